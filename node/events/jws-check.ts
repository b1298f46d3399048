// Signature check of an event token (logout token, SET) against one issuer's JWKS with the
// access-token rules of node/jwt: size before parsing, alg allowlist (never none/HS*), no crit,
// explicit `typ`, kid as a map key only, one coalesced refetch for an unknown kid under the
// issuer's cool-down and budget. Runs on the main thread: events are rare and cheap checks come first.
import type { KeyObject } from 'node:crypto';
import { checkHeader, importNodeKey, parseCompact, resolveKey, verifyNodeSignature, type JwksActor, type KeyEntry } from '../jwt/index.js';

/** Why a token was refused (stable codes: logs, metrics) or could not be judged (`keys_unavailable`). */
export type JwsFailCode = 'oversized' | 'malformed' | 'alg_not_allowed' | 'crit_unsupported' | 'bad_typ' | 'unknown_kid' | 'bad_signature' | 'keys_unavailable';

export type JwsCheck =
  | { readonly ok: true; readonly header: Record<string, unknown>; readonly payload: Record<string, unknown> }
  | { readonly ok: false; readonly code: JwsFailCode; readonly message: string };

/** Imported keys by key entry (entries are immutable and replaced on refresh, so a WeakMap never goes stale). */
const imported = new WeakMap<KeyEntry, KeyObject | null>();

function keyObject(entry: KeyEntry): KeyObject | null {
  let k = imported.get(entry);
  if (k === undefined) {
    try { k = importNodeKey(entry.jwk); } catch { k = null; }
    imported.set(entry, k);
  }
  return k;
}

const fail = (code: JwsFailCode, message: string): JwsCheck => ({ ok: false, code, message });

/**
 * Verify compact JWS `token` with the keys of `actor` (waits at most `waitMs` for a first key set
 * or an unknown-kid refetch). `typs`: accepted `typ` header values, lower case; `''` in the set
 * accepts a token without `typ`. Never throws; attacker-controlled values never reach messages.
 */
export async function checkJws(token: string, actor: JwksActor, typs: ReadonlySet<string>, waitMs: number): Promise<JwsCheck> {
  const parsed = parseCompact(token);
  if (!parsed.ok) return fail(parsed.code, parsed.message);
  const rule = checkHeader(parsed.header, { ...actor.policy, requireTyp: false }, false);
  if (rule !== null) return fail(rule.code === 'alg_not_allowed' || rule.code === 'crit_unsupported' ? rule.code : 'malformed', rule.message);
  const typ = parsed.header.typ;
  if (typ === undefined ? !typs.has('') : typeof typ !== 'string' || !typs.has(typ.toLowerCase())) {
    return fail('bad_typ', `token typ must be ${[...typs].filter((t) => t !== '').join(' or ')}`);
  }
  const alg = parsed.header.alg as string;
  let snap = actor.snapshot;
  if (snap === null) {
    actor.start();
    await within(actor.ready, waitMs);
    snap = actor.snapshot;
    if (snap === null) return fail('keys_unavailable', 'the issuer\'s signing keys are not loaded yet');
  }
  let found = resolveKey(snap.byKid, snap.keys, parsed.header.kid, alg);
  if (found.kind === 'unknown_kid') {
    const refetch = actor.refetchForUnknownKid();
    const settled = refetch === null || await within(refetch, waitMs);
    snap = actor.snapshot!;
    found = resolveKey(snap.byKid, snap.keys, parsed.header.kid, alg);
    // keys that could not be fetched (failing, or still on the way) may lack a fresh rotation: the sender
    // is asked to retry (503) rather than told its event is bad (400), which it would drop for good
    if (found.kind === 'unknown_kid' && (!settled || actor.failing)) return fail('keys_unavailable', 'the issuer\'s signing keys could not be refetched');
    if (found.kind === 'unknown_kid') return fail('unknown_kid', 'token kid is not in the issuer\'s key set');
  }
  if (found.kind === 'fail') return fail(found.failure.code === 'unknown_kid' ? 'unknown_kid' : 'alg_not_allowed', found.failure.message);
  const key = keyObject(found.entry);
  const dot = token.lastIndexOf('.');
  if (key === null || !verifyNodeSignature(alg, key, token.slice(0, dot), Buffer.from(parsed.signature, 'base64url'))) {
    return fail('bad_signature', 'token signature does not verify');
  }
  return { ok: true, header: parsed.header, payload: parsed.payload };
}

/** Wait for `p` at most `ms` (never rejects): true when it settled in time. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    t.unref();
    p.then(() => { clearTimeout(t); resolve(true); }, () => { clearTimeout(t); resolve(true); });
  });
}
