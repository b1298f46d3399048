// Which issuer's actor judges a token: the exact `iss` string, among the allowed config names;
// when several configs share that `iss`, the first whose audiences the (unverified) `aud` names.
import type { JwksActor } from './jwks-actor.js';

function audienceMatches(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && audiences.includes(a));
}

/** The actor for `payload` from `byIss` (exact `iss` → actors in config order), or null when none is allowed; `allowed`: config names, null = any. */
export function selectIssuer(byIss: ReadonlyMap<string, readonly JwksActor[]>, payload: Record<string, unknown>, allowed: readonly string[] | null): JwksActor | null {
  const iss = payload.iss;
  if (typeof iss !== 'string') return null;
  const candidates = byIss.get(iss);
  if (candidates === undefined) return null;
  let first: JwksActor | null = null;
  for (const a of candidates) {
    if (allowed !== null && !allowed.includes(a.name)) continue;
    if (candidates.length === 1) return a;
    first ??= a;
    // several configs share this iss: the unverified aud only picks one; the worker decides
    if (audienceMatches(payload.aud, a.policy.audiences)) return a;
  }
  return first;
}
