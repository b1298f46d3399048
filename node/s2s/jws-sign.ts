// Compact JWS signing for internal tokens with node:crypto: the signing input
// (base64url header and payload), ES256 as raw r||s (RFC 7518 §3.4), EdDSA (RFC 8037).
// Shared by the inline signer and sign.worker.ts.
import { sign, type KeyObject } from 'node:crypto';
import type { InternalAlg } from './key-ring.js';

/** `base64url(header).base64url(payload)`. */
export function signingInput(header: Readonly<Record<string, unknown>>, payload: Readonly<Record<string, unknown>>): string {
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
}

/** The base64url signature of `input`. Throws on a key that cannot sign `alg`. */
export function signJws(alg: InternalAlg, key: KeyObject, input: string): string {
  const data = Buffer.from(input, 'latin1'); // the input is ASCII (base64url and a dot)
  return (alg === 'ES256'
    ? sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
    : sign(null, data, key)).toString('base64url');
}
