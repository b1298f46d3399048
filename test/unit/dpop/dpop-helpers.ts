// DPoP proofs built the way a client library builds them (jose SignJWT with the public JWK
// in the header), plus hand-made hostile ones: shared by the unit and integration suites.
import { createHash, KeyObject, randomUUID, sign } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type ProofAlg = 'ES256' | 'ES384' | 'EdDSA' | 'RS256' | 'PS256';

export interface ClientKey {
  readonly alg: ProofAlg;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  /** RFC 7638 thumbprint: the token's cnf.jkt. */
  readonly jkt: string;
}

export async function clientKey(alg: ProofAlg = 'ES256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** base64url(SHA-256(token)): the `ath` claim. */
export const athOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** Epoch seconds; default now. */
  iat?: number;
  jti?: string;
  /** The access token the proof goes with (sets ath); or `ath` directly. */
  token?: string;
  ath?: string;
  nonce?: string;
  /** Header overrides (typ, alg, jwk, crit…); undefined removes a member. */
  header?: Record<string, unknown>;
  /** Claim overrides; undefined removes a claim. */
  claims?: Record<string, unknown>;
}

/** A proof signed by `key`. */
export async function proof(key: ClientKey, o: ProofOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: o.jti ?? randomUUID(),
    htm: o.htm ?? 'GET',
    htu: o.htu ?? 'http://api.example/orders',
    iat: o.iat ?? Math.floor(Date.now() / 1000),
    ...(o.token !== undefined ? { ath: athOf(o.token) } : {}),
    ...(o.ath !== undefined ? { ath: o.ath } : {}),
    ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
    ...(o.claims ?? {}),
  };
  const header: Record<string, unknown> = { alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...(o.header ?? {}) };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** An unsigned (`alg: none`) proof: header.payload. with an empty signature. */
export function unsignedProof(key: ClientKey, claims: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64(claims)}.`;
}

/** An HS256 proof keyed with `secret` (alg confusion: a symmetric "proof"). */
export async function hmacProof(key: ClientKey, claims: Record<string, unknown>, secret = new Uint8Array(32).fill(7)): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk } as { alg: string }).sign(secret);
}

/** Claims of a valid proof (for hand-made variants). */
export function baseClaims(token: string, o: { htm?: string; htu?: string } = {}): Record<string, unknown> {
  return { jti: randomUUID(), htm: o.htm ?? 'GET', htu: o.htu ?? 'http://api.example/orders', iat: Math.floor(Date.now() / 1000), ath: athOf(token) };
}

/** An ES256 proof with any header at all, signed by `key` with node:crypto (jose refuses unknown crit). */
export function rawProof(key: ClientKey, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })}.${b64(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key: KeyObject.from(key.privateKey), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}
