// The proxy's own token-issuer metadata, served on the main listener before routing:
// `/.well-known/jwks.json` (every published internal-token key, the next one included)
// and `/.well-known/openid-configuration` (issuer + jwks_uri), so upstreams verify
// internal tokens with any JOSE library (jose createRemoteJWKSet, go-jose, nimbus…).
import type { HttpResponse } from 'uWebSockets.js';
import type { InternalTokensConfig } from '../config/index.js';
import type { WellKnownDoc } from '../pipeline/snapshot.js';
import type { KeyRing } from './key-ring.js';

export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Default jwks_uri: `<issuer>/.well-known/jwks.json` when the issuer is a URL, else the path alone. */
export function jwksUri(cfg: Pick<InternalTokensConfig, 'issuer' | 'jwks_uri'>): string {
  return cfg.jwks_uri ?? `${cfg.issuer.replace(/\/+$/, '')}${JWKS_PATH}`;
}

/** The lookup the listener calls for paths under /.well-known/. */
export function wellKnownDocs(cfg: InternalTokensConfig, ring: KeyRing): (path: string) => WellKnownDoc | null {
  const discovery: WellKnownDoc = {
    body: JSON.stringify({ issuer: cfg.issuer, jwks_uri: jwksUri(cfg), id_token_signing_alg_values_supported: [ring.alg] }),
    cacheControl: 'public, max-age=300',
  };
  // a verifier caching the JWKS no longer than publish_ahead_s sees a new key before it signs
  const jwksCache = ring.publishAheadS > 0 ? `public, max-age=${ring.publishAheadS}` : 'no-cache';
  let last = '';
  let doc: WellKnownDoc = { body: '', cacheControl: jwksCache };
  return (path) => {
    if (path === JWKS_PATH) {
      const body = ring.jwks();
      if (body !== last) { last = body; doc = { body, cacheControl: jwksCache }; }
      return doc;
    }
    return path === DISCOVERY_PATH ? discovery : null;
  };
}

/** Write a well-known document (inside the uWS handler's synchronous part, so corked). */
export function writeWellKnown(res: HttpResponse, doc: WellKnownDoc, head: boolean, policy: string | null = null): number {
  res.writeStatus('200 OK');
  res.writeHeader('content-type', 'application/json');
  res.writeHeader('cache-control', doc.cacheControl);
  // `X-Portcullis-Policy` (cluster.policy.response_header), null when off
  if (policy !== null) res.writeHeader('x-portcullis-policy', policy);
  if (head) {
    // see respond.ts: this uWS build needs a bare endWithoutBody() with an explicit length
    res.writeHeader('content-length', String(Buffer.byteLength(doc.body)));
    res.endWithoutBody();
  } else {
    res.end(doc.body);
  }
  return 200;
}
