// Reloading the issuer set: which JWKS actors a new config keeps, seeds from old keys or creates
// (prepareActors), the exact-`iss` index the verifier selects by, and the counters of retired actors
// kept so totals never go backwards. Runs on start and reload, never per request.
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config/schema.js';
import { JwksActor, ZERO_JWKS, type JwksCounters } from './jwks-actor.js';

/** The actors of a new issuer set, built by prepareIssuers and not yet in use. */
export interface PreparedIssuers {
  readonly actors: ReadonlyMap<string, JwksActor>;
  /** Actors made for this set (new or changed issuers): started on commit, closed on discard. */
  readonly created: readonly JwksActor[];
}

/**
 * The actors `issuers` needs beside the running `current` ones, touching none of them. Unchanged issuers
 * keep their actor (and keys); a changed issuer with the same key source starts from the old keys; new
 * actors fetch nothing until started. Never throws.
 */
export function prepareActors(current: ReadonlyMap<string, JwksActor>, issuers: Readonly<Record<string, IssuerConfig>>, log: Logger): PreparedIssuers {
  const actors = new Map<string, JwksActor>();
  const created: JwksActor[] = [];
  for (const [name, cfg] of Object.entries(issuers)) {
    const old = current.get(name);
    if (old !== undefined && JSON.stringify(old.config) === JSON.stringify(cfg)) { actors.set(name, old); continue; }
    // same key source: start from the old keys (under a new version, so workers get the new policy)
    const seed = old !== undefined && old.config.issuer === cfg.issuer && old.config.jwks_uri === cfg.jwks_uri
      && JSON.stringify(old.config.discovery) === JSON.stringify(cfg.discovery) ? old.snapshot : null;
    const actor = new JwksActor(name, cfg, log, seed, seed !== null ? old!.leakedKeys : []);
    actors.set(name, actor);
    created.push(actor);
  }
  return { actors, created };
}

/** Exact `iss` string → actors in config order (several configs may share an issuer). */
export function indexByIss(actors: ReadonlyMap<string, JwksActor>): Map<string, JwksActor[]> {
  const byIss = new Map<string, JwksActor[]>();
  for (const a of actors.values()) {
    const list = byIss.get(a.config.issuer);
    if (list === undefined) byIss.set(a.config.issuer, [a]); else list.push(a);
  }
  return byIss;
}

/** Add the counters of `a`, retired by a reload, to `retired` under its issuer name. */
export function keepRetiredCounters(retired: Map<string, JwksCounters>, name: string, a: JwksActor): void {
  const r = retired.get(name) ?? { ...ZERO_JWKS };
  for (const c of Object.keys(r) as (keyof JwksCounters)[]) r[c] += a.counters[c];
  retired.set(name, r);
}
