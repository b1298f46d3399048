// A reference Shared Signals transmitter for tests and benchmarks: a node:http server on port 0
// publishing its SSF metadata (`/.well-known/ssf-configuration`) and JWKS, signing SETs
// (RFC 8417, `typ: secevent+jwt`) with jose, pushing them as RFC 8935 says and serving them for
// RFC 8936 polling (`POST /ssf/poll`, bearer POLL_AUTH): unacknowledged SETs come again. Keys rotate on demand.
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

/** The Authorization value the poll endpoint expects. */
export const POLL_AUTH = 'Bearer poll-secret-abcdef0123456789';

export interface Transmitter {
  readonly issuer: string;
  /** `${issuer}/ssf/poll`. */
  readonly pollUrl: string;
  /** SETs queued for polling and not yet acknowledged, by jti. */
  readonly pending: Map<string, string>;
  /** Every acknowledgement received, in order (a jti may appear twice). */
  readonly acked: string[];
  /** setErrs received, by jti. */
  readonly errors: Map<string, unknown>;
  /** Queue a SET for polling under its jti. */
  enqueue(set: string): void;
  readonly counters: { metadata: number; jwks: number; polls: number };
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
  const counters = { metadata: 0, jwks: 0, polls: 0 };
  const pending = new Map<string, string>();
  const acked: string[] = [];
  const errors = new Map<string, unknown>();
  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/ssf/poll' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.headers.authorization !== POLL_AUTH) { res.writeHead(401, { 'www-authenticate': 'Bearer' }).end(); return; }
        counters.polls++;
        const q = JSON.parse(Buffer.concat(chunks).toString()) as { ack?: string[]; setErrs?: Record<string, unknown>; maxEvents?: number };
        for (const j of q.ack ?? []) { acked.push(j); pending.delete(j); }
        for (const [j, e] of Object.entries(q.setErrs ?? {})) { errors.set(j, e); pending.delete(j); }
        const out = [...pending].slice(0, q.maxEvents ?? 100);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ sets: Object.fromEntries(out), moreAvailable: pending.size > out.length }));
      });
    } else if (req.url === '/.well-known/ssf-configuration') {
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
    pollUrl: `${issuer}/ssf/poll`,
    pending,
    acked,
    errors,
    enqueue(set) {
      const jti = JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString()).jti as string;
      pending.set(jti, set);
    },
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
