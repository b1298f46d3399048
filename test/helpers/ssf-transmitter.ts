// A reference Shared Signals transmitter for tests and benchmarks: a node:http server on port 0
// publishing its SSF metadata (`/.well-known/ssf-configuration`) and JWKS, signing SETs
// (RFC 8417, `typ: secevent+jwt`) with jose and pushing them as RFC 8935 says. Keys rotate on demand.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { CompactSign } from 'jose';
import { request } from 'undici';
import { jwksOf, makeKey, type FixtureKey } from '../fixtures/keys.js';

export const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF_VERIFY = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

export interface SetOptions {
  /** Header fields, `undefined` removes one (default alg, kid, typ secevent+jwt). */
  header?: Record<string, unknown>;
  /** Sign with this key instead of the current one (it need not be published). */
  key?: FixtureKey;
}

export interface Transmitter {
  readonly issuer: string;
  readonly counters: { metadata: number; jwks: number };
  /** A SET with one event of `type`; `claims` override (undefined removes). */
  set(type: string, event: Record<string, unknown>, claims?: Record<string, unknown>, opts?: SetOptions): Promise<string>;
  /** A new signing key published next to the old ones (key rotation). */
  rotate(): FixtureKey;
  /** RFC 8935 push: POST `set` to `url` with `authorization`. */
  push(url: string, set: string, authorization: string | null, contentType?: string): Promise<{ status: number; body: any; wwwAuthenticate: string }>;
  close(): Promise<void>;
}

export async function startTransmitter(audience: string): Promise<Transmitter> {
  const keys: FixtureKey[] = [makeKey('ES256')];
  const counters = { metadata: 0, jwks: 0 };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/ssf-configuration') {
      counters.metadata++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        spec_version: '1_0', issuer, jwks_uri: `${issuer}/jwks`, delivery_methods_supported: ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936'],
        configuration_endpoint: `${issuer}/ssf/streams`, verification_endpoint: `${issuer}/ssf/verify`,
      }));
    } else if (req.url === '/jwks') {
      counters.jwks++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify(jwksOf(keys)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    counters,
    async set(type, event, claims = {}, opts = {}) {
      const key = opts.key ?? keys[keys.length - 1]!;
      const payload = Object.fromEntries(Object.entries({
        iss: issuer, aud: audience, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [type]: event }, ...claims,
      }).filter(([, v]) => v !== undefined));
      const header = Object.fromEntries(Object.entries({ alg: key.alg, kid: key.kid, typ: 'secevent+jwt', ...opts.header }).filter(([, v]) => v !== undefined));
      if (header.alg === 'none') {
        return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
      }
      return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
    },
    rotate() {
      const k = makeKey('ES256');
      keys.push(k);
      return k;
    },
    async push(url, set, authorization, contentType = 'application/secevent+jwt') {
      const r = await request(url, {
        method: 'POST', body: set,
        headers: { 'content-type': contentType, accept: 'application/json', ...(authorization === null ? {} : { authorization }) },
      });
      const text = await r.body.text();
      return { status: r.statusCode, body: text === '' ? null : JSON.parse(text), wwwAuthenticate: String(r.headers['www-authenticate'] ?? '') };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
