// Piscina worker entry: verifies a batch of tokens (structure, header, key,
// signature, claims) from plain data and answers plain data; never throws across
// the boundary. Keys arrive once per (issuer, version): a task for a version this
// worker lacks is answered `need_keys` and the main thread resubmits it with `install`.
import type { KeyObject } from 'node:crypto';
import { compactVerify, importJWK } from 'jose';
import { importNodeKey, verifyNodeSignature } from './node-signature.js';
import { twinDigest } from './signature-twin.js';
import { parseCompact, type ParsedToken } from './token-parse.js';
import { checkClaims, checkHeader, resolveKey } from './token-rules.js';
import type { InvalidCode, IssuerBundle, IssuerPolicy, KeyEntry, VerifyBatch, VerifyEngine, VerifyResult, VerifyTask } from './types.js';

type JoseKey = Awaited<ReturnType<typeof importJWK>>;

interface IssuerState {
  readonly version: number;
  readonly policy: IssuerPolicy;
  readonly keys: readonly KeyEntry[];
  readonly byKid: ReadonlyMap<string, KeyEntry>;
  /** node engine: KeyObject per key id (alg-agnostic). */
  readonly nodeKeys: Map<string, KeyObject>;
  /** jose engine: CryptoKey per `${id}\0${alg}`; a promise so concurrent tasks import once. */
  readonly joseKeys: Map<string, Promise<JoseKey>>;
}

/** Latest bundle per issuer name; versions are process-unique so stale entries never alias. */
const issuers = new Map<string, IssuerState>();

/** jose error codes → our stable codes (the one mapping table). */
const JOSE_CODES: Readonly<Record<string, InvalidCode>> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JOSE_ALG_NOT_ALLOWED: 'alg_not_allowed',
  ERR_JWS_INVALID: 'malformed',
  ERR_JOSE_NOT_SUPPORTED: 'alg_not_allowed',
};

const NEED_KEYS: VerifyResult = Object.freeze({ ok: false, code: 'need_keys', message: 'worker lacks this key set version' });
const BAD_SIGNATURE: VerifyResult = Object.freeze({ ok: false, code: 'bad_signature', message: 'token signature invalid' });
const KEY_UNUSABLE: VerifyResult = Object.freeze({ ok: false, code: 'alg_not_allowed', message: 'key cannot be used with the token alg' });
const INTERNAL: VerifyResult = Object.freeze({ ok: false, code: 'internal', message: 'verifier error' });

/**
 * TEST-ONLY (test/integration/auth/verify-deadline.test.ts): a token whose `jti` equals this
 * variable spins its worker thread for ever, the stuck verification the pool's deadline ends.
 * Unset — as in any real deployment — it is inert: one comparison per batch.
 */
const TEST_ONLY_HANG_JTI = process.env.PORTCULLIS_TEST_ONLY_VERIFY_HANG_JTI;

function install(name: string, b: IssuerBundle): IssuerState {
  const prev = issuers.get(name);
  if (prev?.version === b.version) return prev;
  const byKid = new Map<string, KeyEntry>();
  const nodeKeys = new Map<string, KeyObject>();
  const joseKeys = new Map<string, Promise<JoseKey>>();
  const prevById = new Map(prev?.keys.map((k) => [k.id, k]));
  for (const k of b.keys) {
    if (k.jwk.kid !== undefined) byKid.set(k.jwk.kid, k);
    // carry imported keys over a rotation when the key material is unchanged
    const old = prevById.get(k.id);
    if (prev === undefined || old === undefined || JSON.stringify(old.jwk) !== JSON.stringify(k.jwk)) continue;
    const nk = prev.nodeKeys.get(k.id);
    if (nk !== undefined) nodeKeys.set(k.id, nk);
    for (const [slot, key] of prev.joseKeys) if (slot.startsWith(k.id + '\0')) joseKeys.set(slot, key);
  }
  // frozen as the main thread's policy is (a worker's copy arrives by structured clone): token-rules may then
  // remember the header and policy that passed last, as it does on the main thread
  const policy = Object.isFrozen(b.policy) ? b.policy : Object.freeze({ ...b.policy, audiences: Object.freeze([...b.policy.audiences]), algorithms: Object.freeze([...b.policy.algorithms]) });
  const state: IssuerState = { version: b.version, policy, keys: b.keys, byKid, nodeKeys, joseKeys };
  issuers.set(name, state);
  return state;
}

function joseKey(state: IssuerState, entry: KeyEntry, alg: string): Promise<JoseKey> {
  const slot = `${entry.id}\0${alg}`;
  let p = state.joseKeys.get(slot);
  if (p === undefined) {
    p = importJWK({ ...entry.jwk }, alg);
    p.catch(() => state.joseKeys.delete(slot));
    state.joseKeys.set(slot, p);
  }
  return p;
}

function nodeKey(state: IssuerState, entry: KeyEntry): KeyObject | null {
  let k = state.nodeKeys.get(entry.id);
  if (k === undefined) {
    try { k = importNodeKey(entry.jwk); } catch { return null; }
    state.nodeKeys.set(entry.id, k);
  }
  return k;
}

/** Bytes of an RSA JWK's modulus `n` (RFC 7518 §6.3.1.1: no leading zero octets, but tolerate them). */
function jwkModulusBytes(n: unknown): number {
  const b = Buffer.from(typeof n === 'string' ? n : '', 'base64url');
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.length - i;
}

async function joseSignature(state: IssuerState, entry: KeyEntry, alg: string, token: string): Promise<VerifyResult | null> {
  // an RSA signature shorter than the modulus passes jose's PSS check too (see node-signature.ts RSA_BYTES)
  if (entry.jwk.kty === 'RSA' && ((token.length - token.lastIndexOf('.') - 1) * 3) >> 2 !== jwkModulusBytes(entry.jwk.n)) return BAD_SIGNATURE;
  let key: JoseKey;
  try {
    key = await joseKey(state, entry, alg);
  } catch {
    return KEY_UNUSABLE;
  }
  try {
    await compactVerify(token, key, { algorithms: [alg] });
    return null;
  } catch (err) {
    const code = JOSE_CODES[(err as { code?: string })?.code ?? ''] ?? 'bad_signature';
    return code === 'bad_signature' ? BAD_SIGNATURE : { ok: false, code, message: 'token rejected by JWS verification' };
  }
}

/** Verify one token; synchronous with the node engine, a Promise with jose. */
export function verifyTask(task: VerifyTask, engine: VerifyEngine): VerifyResult | Promise<VerifyResult> {
  const state = stateFor(task);
  if (state === null) return NEED_KEYS;
  const parsed = parseCompact(task.token);
  return parsed.ok ? checkParsed(task.token, task.now, state, parsed, engine) : parsed;
}

/** The keys and policy of the task's issuer version (installed from `task.install`); null = need_keys. */
function stateFor(task: VerifyTask): IssuerState | null {
  const state = task.install !== undefined ? install(task.issuer, task.install) : issuers.get(task.issuer);
  return state === undefined || state.version !== task.version ? null : state;
}

/**
 * verifyTask after the parse, for the event loop's inline check: the one set of checks, without a
 * task object per token (`parsed` must be parseCompact(token), the parse the main thread already
 * made for issuer selection). `bundle` is installed (a no-op once this thread holds its version).
 * `now`: seconds. Synchronous with the node engine, a Promise with jose.
 */
export function verifyInline(token: string, issuer: string, bundle: IssuerBundle, now: number, parsed: ParsedToken, engine: VerifyEngine): VerifyResult | Promise<VerifyResult> {
  return checkParsed(token, now, install(issuer, bundle), parsed, engine);
}

function checkParsed(token: string, now: number, state: IssuerState, parsed: ParsedToken, engine: VerifyEngine): VerifyResult | Promise<VerifyResult> {
  const header = parsed.header;
  const bad = checkHeader(header, state.policy);
  if (bad !== null) return bad;
  const alg = header.alg as string;
  const found = resolveKey(state.byKid, state.keys, header.kid, alg);
  if (found.kind === 'unknown_kid') return { ok: false, code: 'unknown_kid', message: 'token kid is not in the key set' };
  if (found.kind === 'fail') return found.failure;
  if (parsed.signature.length === 0) return { ok: false, code: 'malformed', message: 'token has no signature' };
  const entry = found.entry;
  if (engine === 'jose') return joseSignature(state, entry, alg, token).then((r) => r ?? finish(token, now, state.policy, parsed, entry));
  const key = nodeKey(state, entry);
  if (key === null) return KEY_UNUSABLE;
  // the signing input is the token up to its last dot, written from the token itself (no slice); the dot's
  // place from the signature segment parseCompact cut after it, not lastIndexOf (a runtime call: ~190 ns per 666-char token)
  const dot = token.length - parsed.signature.length - 1;
  if (!verifyNodeSignature(alg, key, token, parsed.signature, dot)) return BAD_SIGNATURE;
  return finish(token, now, state.policy, parsed, entry, dot);
}

/**
 * After a good signature: the claims rules, then the success answer (no closure per token), with
 * the digest of the token's ECDSA twin so a revocation by either spelling's hash refuses both.
 * `kid` is the header's, else the verifying key's own: a token without a kid header that the one
 * key of its type verified is still "signed by that key" for a revocation by kid. A key published
 * without a kid goes by its id, `~` + its RFC 7638 thumbprint (jwk-set.ts, the `jwks loaded` log line):
 * before, its tokens carried no kid and no `revoke --kid` could reach them.
 */
function finish(token: string, now: number, policy: IssuerPolicy, parsed: ParsedToken, entry: KeyEntry, dot?: number): VerifyResult {
  const bad = checkClaims(parsed.payload, policy, now);
  if (bad !== null) return bad;
  const h = parsed.header.kid;
  const kid = typeof h === 'string' ? h : entry.id;
  return { ok: true, claims: parsed.payload, kid, keyId: entry.ref, twin: twinDigest(token, parsed.header.alg as string, dot) };
}

function guarded(task: VerifyTask, engine: VerifyEngine): VerifyResult | Promise<VerifyResult> {
  try {
    const r = verifyTask(task, engine);
    return r instanceof Promise ? r.catch(() => INTERNAL) : r;
  } catch {
    return INTERNAL;
  }
}

/** Worker entry point: one result per task, in order. */
export default function verifyBatch(batch: VerifyBatch): VerifyResult[] | Promise<VerifyResult[]> {
  const out: (VerifyResult | Promise<VerifyResult>)[] = [];
  if (!Array.isArray(batch?.tasks)) return out as VerifyResult[];
  if (TEST_ONLY_HANG_JTI !== undefined) testOnlySpin(batch.tasks, TEST_ONLY_HANG_JTI);
  let pending = false;
  for (const t of batch.tasks) {
    const r = guarded(t, batch.engine);
    if (r instanceof Promise) pending = true;
    out.push(r);
  }
  return pending ? Promise.all(out) : (out as VerifyResult[]);
}

/** TEST-ONLY: never returns when a task's token carries `jti` (see TEST_ONLY_HANG_JTI). */
function testOnlySpin(tasks: readonly VerifyTask[], jti: string): void {
  for (const t of tasks) {
    const parsed = parseCompact(t.token);
    if (!parsed.ok || parsed.payload.jti !== jti) continue;
    for (let spins = 0; ; spins++) if (spins < 0) return;
  }
}
