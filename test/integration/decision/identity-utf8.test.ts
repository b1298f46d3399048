// Non-ASCII identity values in a decision's answer: the README promises their UTF-8 bytes (as
// proxy mode sends them upstream), so the edge copies to the app exactly the bytes of the claim.
// Before, the HTTP answer (uWS) and the gRPC CheckResponse encoded them twice (`José` → `JosÃ©`).
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { extAuthzClient } from '../../helpers/ext-authz-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { issuerFor, waitReady } from '../auth/policy-fixtures.js';

const NAME = 'Jos\u00e9 \u4e2d\u{1F600}';
const NAME_BYTES = Buffer.from(NAME, 'utf8');

let as: AuthServer;
let proxy: ProxyProcess;
let client: grpc.Client;
let token: string;

interface HeaderOption { header: { key: string; value: string } }
interface CheckResponse { status: { code: number } | null; ok_response?: { headers: HeaderOption[] } }
type CheckFn = (req: unknown, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void) => void;

beforeAll(async () => {
  as = await startAuthServer({ issuerPath: '/realms/utf8' });
  proxy = await startProxy(baseConfig('http://127.0.0.1:9', {
    server: {
      listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } },
      decision: { grpc: true, endpoints: [{ path: '/_portcullis/auth', dialect: 'traefik' }, { path: '/_portcullis/ext_authz', dialect: 'envoy' }] },
    },
    issuers: { demo: issuerFor(as) },
    routes: [{ name: 'app', match: { path: '/app/*' }, upstream: 'app', auth: {}, forward: { identity_headers: { 'X-Name': 'name', 'X-User': 'sub' } } }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  client = extAuthzClient(`127.0.0.1:${http2PortOf(proxy.logs())}`);
  token = await as.issueJwt({ sub: 'jose', name: NAME });
}, 60_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await as?.close();
});

/** One request over a raw socket; the whole answer's bytes (the proxy closes: `connection: close`). */
function rawAnswer(req: string): Promise<Buffer> {
  const port = Number(new URL(proxy.url).port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(req));
    s.setTimeout(5_000, () => s.destroy(new Error('no answer within 5 s')));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** The raw bytes of header `name`'s value in an HTTP/1.1 answer head, or null. */
function headerBytes(answer: Buffer, name: string): Buffer | null {
  const head = answer.subarray(0, answer.indexOf('\r\n\r\n'));
  const at = head.indexOf(`\r\n${name}: `);
  if (at === -1) return null;
  const from = at + name.length + 4;
  const end = head.indexOf('\r\n', from);
  return head.subarray(from, end === -1 ? head.length : end);
}

describe('non-ASCII identity values in decision answers', () => {
  for (const [dialect, req] of [
    ['traefik', '/_portcullis/auth HTTP/1.1\r\nx-forwarded-method: GET\r\nx-forwarded-uri: /app/x\r\nx-forwarded-host: a\r\n'],
    ['envoy (HTTP)', '/_portcullis/ext_authz/app/x HTTP/1.1\r\n'],
  ] as const) {
    it(`${dialect}: the answer carries the claim's UTF-8 bytes, once`, async () => {
      const answer = await rawAnswer(`GET ${req}host: a\r\nauthorization: Bearer ${token}\r\nconnection: close\r\n\r\n`);
      expect(answer.subarray(0, 15).toString('latin1'), answer.toString('latin1')).toBe('HTTP/1.1 200 OK');
      expect(headerBytes(answer, 'x-user')?.toString('latin1')).toBe('jose');
      expect(headerBytes(answer, 'x-name')?.toString('hex')).toBe(NAME_BYTES.toString('hex'));
    });
  }

  it('envoy (gRPC Check): the header value is the claim itself', async () => {
    const req = {
      attributes: { request: { http: {
        method: 'GET', path: '/app/x', host: 'a', scheme: 'http', protocol: 'HTTP/1.1',
        headers: { ':authority': 'a', ':method': 'GET', ':path': '/app/x', authorization: `Bearer ${token}` },
      } } },
    };
    const r = await new Promise<CheckResponse>((resolve, reject) =>
      (client as unknown as { Check: CheckFn }).Check(req, (err, res) => (err !== null ? reject(err) : resolve(res))));
    expect(r.status?.code ?? 0).toBe(0);
    const value = (name: string): string | undefined => r.ok_response?.headers.find((h) => h.header.key === name)?.header.value;
    expect(value('x-user')).toBe('jose');
    expect(value('x-name')).toBe(NAME);
  });
});
