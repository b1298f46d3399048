// A reference Shared Signals transmitter for tests and benchmarks: a node:http server on port 0
// publishing its SSF metadata (`/.well-known/ssf-configuration`) and JWKS, signing SETs
// (RFC 8417, `typ: secevent+jwt`) with jose, pushing them as RFC 8935 says and serving them for
// RFC 8936 polling (`POST /ssf/poll`, bearer POLL_AUTH): unacknowledged SETs come again. Keys rotate on demand.
// SSF 1.0 §8 management (bearer MGMT_AUTH): streams at `/ssf/streams` (GET all, POST create, PATCH
// events_requested), `/ssf/verify` (sends a verification SET by the stream's delivery), `/ssf/status`.
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
/** The Authorization value the management endpoints expect. */
export const MGMT_AUTH = 'Bearer mgmt-secret-abcdef0123456789';

/** One stream as the transmitter holds it (SSF 1.0 §8.1.1). */
export interface StreamConfig {
  stream_id: string;
  iss: string;
  aud: string;
  delivery: { method: string; endpoint_url?: string; authorization_header?: string };
  events_supported: string[];
  events_requested: string[];
  events_delivered: string[];
  description?: string;
  status: 'enabled' | 'paused' | 'disabled';
}

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
  readonly counters: { metadata: number; jwks: number; polls: number; creates: number; updates: number; verifications: number; statusReads: number; streamReads: number };
  /** Streams by id (tests may change `status`). */
  readonly streams: Map<string, StreamConfig>;
  /** Verification SETs sent, with the answer status of their push (0 = queued for polling). */
  readonly verificationsSent: { stream_id: string; state: string; status: number }[];
  /** A SET with one event of `type`; `claims` override (undefined removes). */
  set(type: string, event: Record<string, unknown>, claims?: Record<string, unknown>, opts?: SetOptions): Promise<string>;
  /** A new signing key published next to the old ones (key rotation). */
  rotate(): FixtureKey;
  /** RFC 8935 push: POST `set` to `url` with `authorization`. */
  push(url: string, set: string, authorization: string | null, contentType?: string): Promise<{ status: number; body: any; wwwAuthenticate: string }>;
  close(): Promise<void>;
}

export interface TransmitterOptions {
  /** events_supported (default: every CAEP and RISC type the proxy maps, and token-claims-change). */
  supported?: string[];
}

const ALL_SUPPORTED = [
  `${CAEP}session-revoked`, `${CAEP}credential-change`, `${CAEP}token-claims-change`,
  `${RISC}account-disabled`, `${RISC}account-purged`, `${RISC}credential-compromise`, `${RISC}sessions-revoked`,
];

export async function startTransmitter(audience: string, opts: TransmitterOptions = {}): Promise<Transmitter> {
  const keys: FixtureKey[] = [makeKey('ES256')];
  const counters = { metadata: 0, jwks: 0, polls: 0, creates: 0, updates: 0, verifications: 0, statusReads: 0, streamReads: 0 };
  const streams = new Map<string, StreamConfig>();
  const verificationsSent: { stream_id: string; state: string; status: number }[] = [];
  const supported = opts.supported ?? ALL_SUPPORTED;
  let tx: Transmitter | null = null;
  const pending = new Map<string, string>();
  const acked: string[] = [];
  const errors = new Map<string, unknown>();
  let issuer = '';
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const manage = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: any): void => {
    if (req.headers.authorization !== MGMT_AUTH) { res.writeHead(401, { 'www-authenticate': 'Bearer' }).end(); return; }
    const url = new URL(req.url!, issuer);
    if (url.pathname === '/ssf/streams' && req.method === 'GET') {
      counters.streamReads++;
      const id = url.searchParams.get('stream_id');
      if (id !== null) { const st = streams.get(id); if (st === undefined) res.writeHead(404).end(); else json(res, 200, st); return; }
      json(res, 200, [...streams.values()].map(({ status: _s, ...c }) => c));
    } else if (url.pathname === '/ssf/streams' && req.method === 'POST') {
      counters.creates++;
      const requested: string[] = body.events_requested ?? [];
      const st: StreamConfig = {
        stream_id: randomUUID(), iss: issuer, aud: audience,
        delivery: body.delivery?.method === 'urn:ietf:rfc:8936' ? { method: 'urn:ietf:rfc:8936', endpoint_url: `${issuer}/ssf/poll` } : body.delivery,
        events_supported: supported, events_requested: requested, events_delivered: requested.filter((e) => supported.includes(e)),
        description: body.description, status: 'enabled',
      };
      streams.set(st.stream_id, st);
      const { status: _s, ...out } = st;
      json(res, 201, out);
    } else if (url.pathname === '/ssf/streams' && req.method === 'PATCH') {
      const st = streams.get(body.stream_id);
      if (st === undefined) { res.writeHead(404).end(); return; }
      counters.updates++;
      if (Array.isArray(body.events_requested)) { st.events_requested = body.events_requested; st.events_delivered = st.events_requested.filter((e) => supported.includes(e)); }
      const { status: _s, ...out } = st;
      json(res, 200, out);
    } else if (url.pathname === '/ssf/status' && req.method === 'GET') {
      counters.statusReads++;
      const st = streams.get(url.searchParams.get('stream_id') ?? '');
      if (st === undefined) { res.writeHead(404).end(); return; }
      json(res, 200, { stream_id: st.stream_id, status: st.status, ...(st.status === 'enabled' ? {} : { reason: 'set by the test' }) });
    } else if (url.pathname === '/ssf/verify' && req.method === 'POST') {
      const st = streams.get(body.stream_id);
      if (st === undefined) { res.writeHead(404).end(); return; }
      counters.verifications++;
      res.writeHead(204).end();
      const state = String(body.state ?? '');
      // SSF 1.0 §8.1.4.2: the verification event, subject the stream, delivered like any other event
      void tx!.set(SSF_VERIFY, { state }, { sub_id: { format: 'opaque', id: st.stream_id } }).then(async (set) => {
        if (st.delivery.method === 'urn:ietf:rfc:8936') { tx!.enqueue(set); verificationsSent.push({ stream_id: st.stream_id, state, status: 0 }); return; }
        const r = await tx!.push(st.delivery.endpoint_url!, set, st.delivery.authorization_header ?? null).catch(() => ({ status: -1 }));
        verificationsSent.push({ stream_id: st.stream_id, state, status: r.status });
      });
    } else {
      res.writeHead(404).end();
    }
  };
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/ssf/streams') || req.url?.startsWith('/ssf/status') || req.url === '/ssf/verify') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        manage(req, res, text === '' ? {} : JSON.parse(text));
      });
    } else if (req.url === '/ssf/poll' && req.method === 'POST') {
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
        configuration_endpoint: `${issuer}/ssf/streams`, verification_endpoint: `${issuer}/ssf/verify`, status_endpoint: `${issuer}/ssf/status`,
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
  tx = {
    issuer,
    streams,
    verificationsSent,
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
  return tx;
}
