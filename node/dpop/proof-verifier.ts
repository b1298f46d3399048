// One DPoP proof (RFC 9449 §4.3) checked against the request it came with and the token it
// binds: shape, header (typ, alg allowlist, public jwk), claims (jti, htm, htu, iat, ath),
// key thumbprint = cnf.jkt, then the signature with node:crypto inline (README: DPoP, why
// not the worker pool). Cheap checks first, the signature last. Synchronous, never throws.
import { parseCompact } from '../jwt/token-parse.js';
import { verifyNodeSignature } from '../jwt/node-signature.js';
import { htuMatches } from './htu.js';
import { checkProofJwk, type ProofKeyCache } from './proof-key.js';

/** Longest accepted `jti`, characters (RFC 9449 asks for ≥ 96 bits of randomness; a UUID is 36). */
export const MAX_JTI_CHARS = 256;

/** The request and token a proof must match. */
export interface ProofRequest {
  /** The DPoP header value. */
  readonly proof: string;
  /** Upper-case request method. */
  readonly method: string;
  /** The client's normalised origin (htu.ts clientOrigin), null when unknown. */
  readonly origin: string | null;
  /** The listener's normalised path. */
  readonly path: string;
  /** base64url(SHA-256(access token)): the expected `ath`. */
  readonly ath: string;
  /** The token's cnf.jkt. */
  readonly jkt: string;
}

/** Settings of one check. */
export interface ProofSettings {
  readonly algorithms: ReadonlySet<string>;
  readonly maxProofBytes: number;
  readonly iatWindowS: number;
  /** Epoch seconds. */
  readonly nowS: number;
}

/** Stable reason codes (logs, metrics) of a refused proof. */
export type ProofReason =
  | 'dpop_oversized' | 'dpop_malformed' | 'dpop_typ' | 'dpop_alg' | 'dpop_crit' | 'dpop_jwk' | 'dpop_private_jwk'
  | 'dpop_jti' | 'dpop_htm' | 'dpop_htu' | 'dpop_iat' | 'dpop_iat_stale' | 'dpop_iat_future' | 'dpop_ath'
  | 'dpop_key_mismatch' | 'dpop_key_invalid' | 'dpop_signature';

export interface ProofFailure { readonly ok: false; readonly reason: ProofReason; readonly message: string }
export interface ProofAccepted {
  readonly ok: true;
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
  /** The `nonce` claim as sent (checked by the caller when the route wants nonces). */
  readonly nonce: unknown;
}
export type ProofResult = ProofAccepted | ProofFailure;

const fail = (reason: ProofReason, message: string): ProofFailure => Object.freeze({ ok: false as const, reason, message });

/** Every failure, preallocated: refusing allocates nothing. Messages never quote the proof. */
export const PROOF_FAILURES: Readonly<Record<ProofReason, ProofFailure>> = Object.freeze({
  dpop_oversized: fail('dpop_oversized', 'DPoP proof too large'),
  dpop_malformed: fail('dpop_malformed', 'DPoP proof is not a compact JWS with JSON header and claims'),
  dpop_typ: fail('dpop_typ', 'DPoP proof typ must be dpop+jwt'),
  dpop_alg: fail('dpop_alg', 'DPoP proof alg is not an accepted asymmetric algorithm'),
  dpop_crit: fail('dpop_crit', 'DPoP proof has critical header parameters'),
  dpop_jwk: fail('dpop_jwk', 'DPoP proof jwk is not a public key for its alg'),
  dpop_private_jwk: fail('dpop_private_jwk', 'DPoP proof jwk contains private key material'),
  dpop_jti: fail('dpop_jti', `DPoP proof jti missing or longer than ${MAX_JTI_CHARS} characters`),
  dpop_htm: fail('dpop_htm', 'DPoP proof htm does not match the request method'),
  dpop_htu: fail('dpop_htu', 'DPoP proof htu does not match the request URI'),
  dpop_iat: fail('dpop_iat', 'DPoP proof iat missing or not a number'),
  dpop_iat_stale: fail('dpop_iat_stale', 'DPoP proof iat is too old'),
  dpop_iat_future: fail('dpop_iat_future', 'DPoP proof iat is in the future'),
  dpop_ath: fail('dpop_ath', 'DPoP proof ath does not match the access token'),
  dpop_key_mismatch: fail('dpop_key_mismatch', 'DPoP proof key does not match the key the token is bound to'),
  dpop_key_invalid: fail('dpop_key_invalid', 'DPoP proof jwk is not a valid key'),
  dpop_signature: fail('dpop_signature', 'DPoP proof signature is invalid'),
});

/** `typ` values meaning dpop+jwt (media types are case-insensitive; "application/" may be omitted, RFC 7515 §4.1.9). */
function isDpopTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'dpop+jwt' || t === 'application/dpop+jwt';
}

/**
 * Verify `req.proof` for `req`. `keys` caches imported proof keys by thumbprint. The replay
 * check (jti) and the nonce are the caller's: they need state this function does not hold.
 */
export function verifyProof(req: ProofRequest, s: ProofSettings, keys: ProofKeyCache): ProofResult {
  const proof = req.proof;
  if (proof.length > s.maxProofBytes) return PROOF_FAILURES.dpop_oversized;
  const parsed = parseCompact(proof);
  if (!parsed.ok) return parsed.code === 'oversized' ? PROOF_FAILURES.dpop_oversized : PROOF_FAILURES.dpop_malformed;
  const { header, payload } = parsed;

  if (!isDpopTyp(header.typ)) return PROOF_FAILURES.dpop_typ;
  const alg = header.alg;
  if (typeof alg !== 'string' || !s.algorithms.has(alg)) return PROOF_FAILURES.dpop_alg;
  if (header.crit !== undefined) return PROOF_FAILURES.dpop_crit;
  const key = checkProofJwk(header.jwk, alg);
  if (key === 'private') return PROOF_FAILURES.dpop_private_jwk;
  if (typeof key === 'string') return PROOF_FAILURES.dpop_jwk;

  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) return PROOF_FAILURES.dpop_jti;
  if (payload.htm !== req.method) return PROOF_FAILURES.dpop_htm;
  if (typeof payload.htu !== 'string' || !htuMatches(payload.htu, req.origin, req.path)) return PROOF_FAILURES.dpop_htu;
  const iat = payload.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return PROOF_FAILURES.dpop_iat;
  if (iat < s.nowS - s.iatWindowS) return PROOF_FAILURES.dpop_iat_stale;
  if (iat > s.nowS + s.iatWindowS) return PROOF_FAILURES.dpop_iat_future;
  if (payload.ath !== req.ath) return PROOF_FAILURES.dpop_ath;
  if (key.thumbprint !== req.jkt) return PROOF_FAILURES.dpop_key_mismatch;

  const k = keys.get(key);
  if (k === null) return PROOF_FAILURES.dpop_key_invalid;
  const dot = proof.lastIndexOf('.');
  if (!verifyNodeSignature(alg, k, proof.slice(0, dot), Buffer.from(parsed.signature, 'base64url'))) return PROOF_FAILURES.dpop_signature;
  return { ok: true, jti, iat, nonce: payload.nonce };
}
