// The decision doors (nginx, Traefik and Envoy HTTP dialects, ext_authz gRPC Check) apply the
// per-request rules proxy mode applies: Grpc-Metadata-Authorization beside the token is a second
// credential, identity list elements with a space or comma leave the header out, a raw `#` in the
// reported path is refused, and a host override the app would read (X-Forwarded-Host, X-Original-Host,
// X-Host, X-HTTP-Host-Override, `_` spellings) must select the judged route — before, Envoy's HTTP
// dialect and the gRPC Check answered 200 for Host: a.example (open) with X-Forwarded-Host: b.example
// (guarded), which an app trusting X-Forwarded-Host served as b.example. Nothing here is forwarded.
import net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { issuerFor, waitReady } from '../auth/policy-fixtures.js';
import { waitFor } from '../../helpers/wait.js';

interface HeaderOption { header: { key: string; value: string } }
interface CheckResponse {
  status: { code: number } | null;
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: { headers: HeaderOption[] };
  denied_response?: { status: { code: number } | null };
}
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

let as: AuthServer;
let proxy: ProxyProcess;
let client: grpc.Client;
let token: string;
let listToken: string;

beforeAll(async () => {
  as = await startAuthServer({ issuerPath: '/realms/decision-doors' });
  proxy = await startProxy(baseConfig('http://127.0.0.1:9', {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } }, trust_forwarded: true,
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/nginx', dialect: 'nginx' }, { path: '/_portcullis/traefik', dialect: 'traefik' }, { path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { demo: issuerFor(as) },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
      { name: 'open-host', match: { host: 'a.example', path: '/h/*' }, upstream: 'app', auth: 'none' },
      { name: 'guarded-host', match: { host: 'b.example', path: '/h/*' }, upstream: 'app', auth: {} },
      { name: 'app', match: { path: '/app/*' }, upstream: 'app', auth: {}, forward: { identity_headers: { 'X-User': 'sub', 'X-Roles': 'roles' } } },
    ],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
  token = await as.issueJwt({ sub: 'alice', roles: ['reader', 'writer'] });
  listToken = await as.issueJwt({ sub: 'alice', roles: ['reader', 'x admin'] });
}, 60_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await as?.close();
});

/** One decision call over a raw socket (a raw `#` must reach the proxy as sent): status and answer headers. */
function httpDecision(dialect: string, uri: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string> }> {
  const port = Number(new URL(proxy.url).port);
  const target = dialect === 'envoy' ? `/_portcullis/ext_authz${uri}` : `/_portcullis/${dialect}`;
  const reporting = dialect === 'nginx' ? { 'x-original-method': 'GET', 'x-original-uri': uri } : dialect === 'traefik' ? { 'x-forwarded-method': 'GET', 'x-forwarded-uri': uri, 'x-forwarded-host': 'app.example' } : {};
  const { host = 'app.example', ...rest } = headers;
  const lines = [`GET ${target} HTTP/1.1`, `host: ${host}`, ...Object.entries({ ...reporting, ...rest }).map(([k, v]) => `${k}: ${v}`), 'connection: close'];
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(`${lines.join('\r\n')}\r\n\r\n`));
    s.setTimeout(5_000, () => s.destroy(new Error('no answer within 5 s')));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
      const out: Record<string, string> = {};
      for (const l of head.slice(1)) { const i = l.indexOf(':'); out[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      resolve({ status: Number(head[0]!.split(' ')[1]), headers: out });
    });
  });
}

/** One gRPC Check: status code of the decision (Envoy's denied status, or 200 for OK) and the headers set. */
async function grpcDecision(uri: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string> }> {
  const { host = 'app.example', ...rest } = headers;
  const req = { attributes: { request: { http: { method: 'GET', path: uri, host, scheme: 'http', protocol: 'HTTP/1.1', headers: { ':authority': host, ':method': 'GET', ':path': uri, ...rest } } } } };
  const r = await new Promise<CheckResponse>((resolve, reject) => (client as unknown as { Check: CheckFn }).Check(req, (err, res) => (err !== null ? reject(err) : resolve(res))));
  if (r.http_response === 'ok_response') return { status: 200, headers: Object.fromEntries((r.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value])) };
  return { status: r.denied_response?.status?.code ?? -1, headers: {} };
}

const DOORS = ['nginx', 'traefik', 'envoy', 'grpc'] as const;
const decide = (door: (typeof DOORS)[number], uri: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string> }> =>
  door === 'grpc' ? grpcDecision(uri, headers) : httpDecision(door, uri, headers);

describe('every decision door applies the same per-request rules', () => {
  for (const door of DOORS) {
    it(`${door}: the token alone is allowed with its identity headers`, async () => {
      const r = await decide(door, '/app/x', { authorization: `Bearer ${token}` });
      expect(r.status).toBe(200);
      expect(r.headers['x-user']).toBe('alice');
      expect(r.headers['x-roles']).toBe('reader writer');
    });

    it(`${door}: Grpc-Metadata-Authorization beside the token is a second credential (400)`, async () => {
      const r = await decide(door, '/app/x', { authorization: `Bearer ${token}`, 'grpc-metadata-authorization': 'Bearer forged' });
      expect(r.status).toBe(400);
    });

    it(`${door}: a list element with a space leaves the list header out, the others stay`, async () => {
      const r = await decide(door, '/app/x', { authorization: `Bearer ${listToken}` });
      expect(r.status).toBe(200);
      expect(r.headers['x-user']).toBe('alice');
      expect(r.headers['x-roles']).toBeUndefined();
    });

    if (door !== 'traefik') { // Traefik reports the host in X-Forwarded-Host itself: no second one to send
      it(`${door}: a host override selecting another (guarded) route than the judged host is never allowed`, async () => {
        // `_` spellings: uWS refuses such names on the HTTP endpoints (README); Envoy passes them to the Check
        const names = ['x-forwarded-host', 'x-original-host', 'x-host', 'x-http-host-override', ...(door === 'grpc' ? ['x_forwarded_host', 'x_http_host_override'] : [])];
        for (const name of names) {
          const r = await decide(door, '/h/x', { host: 'a.example', [name]: 'b.example' });
          expect([400, 401], name).toContain(r.status);
          const same = await decide(door, '/h/x', { host: 'a.example', [name]: 'A.example.' });
          expect(same.status, `${name} naming the judged host`).toBe(200);
        }
        expect((await decide(door, '/h/x', { host: 'a.example' })).status).toBe(200);
      });
    }

    it(`${door}: a raw # in the reported path is refused (400), never judged as the part before it`, async () => {
      const r = await decide(door, '/public/x#/../../app/x', {});
      expect(r.status).toBe(400);
    });
  }
});

describe('with server.trust_forwarded the decision line names the client the edge appended to X-Forwarded-For', () => {
  // before: every decision line's `client` was the edge's own address (127.0.0.1 here) — behind nginx, Traefik or
  // Envoy's HTTP ext_authz the log could not tell one client from another; the proxy path already named the client
  const HTTP_DOORS = ['nginx', 'traefik', 'envoy'] as const;
  HTTP_DOORS.forEach((door, i) => {
    it(`${door}: allowed and refused decisions log client = the rightmost X-Forwarded-For entry, peer = the edge`, async () => {
      const client = `203.0.113.${10 + i}`;
      expect((await decide(door, `/public/xff-${door}`, { 'x-forwarded-for': `198.51.100.7, ${client}` })).status).toBe(200);
      expect((await decide(door, `/nowhere/xff-${door}`, { 'x-forwarded-for': `198.51.100.7, ${client}` })).status).toBe(404);
      // an entry that is no IP literal never reaches the log: the edge's address is logged instead
      expect((await decide(door, `/public/junk-${door}`, { 'x-forwarded-for': 'unknown' })).status).toBe(200);
      const lines = (): Array<Record<string, unknown>> => proxy.logs().filter((l) => l.msg === 'decision' && l.decision === door);
      await waitFor(`${door} decision lines`, () => lines().filter((l) => l.client === client).length === 2);
      const mine = lines().filter((l) => l.client === client);
      expect(mine.map((l) => [l.result, l.peer])).toEqual([['allowed', '127.0.0.1'], ['refused', '127.0.0.1']]);
      expect(mine[0]).toMatchObject({ path: `/public/xff-${door}` });
      await waitFor(`${door} junk line`, () => lines().some((l) => l.path === `/public/junk-${door}`));
      expect(lines().find((l) => l.path === `/public/junk-${door}`)).toMatchObject({ client: '127.0.0.1', peer: '127.0.0.1' });
    });
  });
});
