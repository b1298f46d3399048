// What a reload builds beside the running state (ProxyInstance.prepare → commit or discard): the
// prepared reload, its result, a failed prepare as a config problem, and a large config's route
// policies compiled in slices so that the event loop is not held for them.
import type { PreparedAuth } from './auth/index.js';
import { defaultRouteIssuers, type Config, type ConfigProblem } from './config/index.js';
import type { PolicyVersion } from './contracts/index.js';
import type { Listener } from './http/listener.js';
import type { H2Listener } from './http2/index.js';
import { compilePolicy, type CompiledPolicy } from './pipeline/index.js';
import type { Snapshot } from './pipeline/snapshot.js';
import type { PreparedS2s } from './s2s/index.js';
import type { UpstreamPool } from './upstream/upstream-pool.js';

export type ReloadResult = { ok: true; version: number; /** fields read at start only that differ from the start config: not applied */ restartRequired: string[] } | { ok: false; errors: ConfigProblem[] };

/** A new config built beside the running one by ProxyInstance.prepare: commit it or discard it. */
export interface PreparedReload {
  readonly config: Config;
  readonly version: number;
  /** The cluster policy version it carries (null: single-file). */
  readonly policy: PolicyVersion | null;
  readonly auth: PreparedAuth;
  readonly s2s: PreparedS2s;
  /** Upstream pools made for this config (changed upstreams), closed on discard. */
  readonly pools: readonly UpstreamPool[];
  readonly snapshot: Snapshot;
  /** The HTTP/2 listener's TLS files as read again by this reload (a renewed certificate); null: h2c, none, or the bytes in use. */
  readonly tls: ReturnType<H2Listener['readTls']>;
  /** The uWS listener's server.tls files read again into a new app (a renewed certificate), bound at commit; null without TLS. */
  readonly listenerTls: ReturnType<Listener['readTls']>;
  /** Fields read at start only whose new value waits for a restart (the config carries the start values). */
  readonly restartRequired: string[];
}

/** Routes compiled per event-loop turn by prepareYielding (~5–10 ms of work on the test machine). */
export const PRECOMPILE_SLICE = 1_000;

/** A prepare failure as a config problem: the `path` the error carries or starts with, else `(reload)`. */
export function problemOf(err: unknown): ConfigProblem {
  const message = String((err as Error)?.message ?? err);
  const path = (err as { path?: unknown })?.path;
  const m = /^([A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*): (.+)$/s.exec(message);
  if (typeof path === 'string') return { path, message: m !== null && m[1] === path ? m[2]! : message };
  return m !== null ? { path: m[1]!, message: m[2]! } : { path: '(reload)', message };
}

/** The policies of `config`'s routes (pure: route + identity), PRECOMPILE_SLICE per event-loop turn. */
export async function compileInSlices(config: Config): Promise<Array<CompiledPolicy | null>> {
  const routes = config.routes;
  const compiled: Array<CompiledPolicy | null> = [];
  const defaults = defaultRouteIssuers(config);
  for (let i = 0; i < routes.length; i += PRECOMPILE_SLICE) {
    for (const r of routes.slice(i, i + PRECOMPILE_SLICE)) compiled.push(compilePolicy(r, config.identity, defaults));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return compiled;
}
