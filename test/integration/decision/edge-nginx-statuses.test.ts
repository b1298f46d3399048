// deploy/edge/nginx.conf passes on the refusals of the decision endpoint that auth_request does not pass
// itself (it passes 2xx, 401 and 403 and turns every other answer into a 500): an unlisted method of an
// `other_methods: refuse` route (405 + Allow), headers or a target too large for Portcullis (431, 414)
// keep their status, without Retry-After; only Portcullis's 503 or Portcullis unreachable is a 503.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/nats.js';
import type { Nginx } from '../../helpers/nginx.js';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import type { ScriptedUpstream } from '../../helpers/upstreams.js';
import { DECISION, send } from './decision-fixtures.js';
import { startNginxEdge, startRecordingUpstream } from './edge-fixtures.js';

let app: ScriptedUpstream;
let proxy: ProxyProcess;
let nginx: Nginx;
let edge = '';

beforeAll(async () => {
  app = await startRecordingUpstream();
  const socket = join(tempDir('portcullis-nginx-statuses-'), 'decision.sock');
  proxy = await startProxy({
    // limits below nginx's own (8 KiB per header line, 32 KiB in all): nginx forwards what Portcullis refuses
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { ...DECISION, unix_socket: { path: socket } }, limits: { max_header_bytes: 2_048, max_url_bytes: 128 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    upstreams: { app: { targets: [app.url] } },
    routes: [
      { name: 'reports', match: { path: '/reports/*', methods: ['GET'] }, other_methods: 'refuse', upstream: 'app', auth: 'none' },
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
    ],
    log: { level: 'warn', access: false },
  });
  const port = await freePort();
  nginx = await startNginxEdge(port, socket, app.port);
  edge = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await proxy?.stop();
  await app?.close();
});

describe('nginx (deploy/edge/nginx.conf) in front: the decision endpoint\'s other refusals keep their status', () => {
  it('the control: an allowed request reaches the app', async () => {
    const r = await send(`${edge}/public/x`, {});
    expect(r.status, `${r.text}\n${nginx.errors()}`).toBe(200);
  });

  it('an unlisted method on an other_methods: refuse route → 405 with Allow, no Retry-After; the app is not called', async () => {
    const before = app.seen.length;
    const r = await send(`${edge}/reports/1`, {}, 'DELETE');
    // before: 503 temporarily_unavailable + Retry-After: 1, a client retrying a request that can never pass
    expect([r.status, r.json?.code], r.text).toEqual([405, 'PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED']);
    expect(r.headers.allow).toMatch(/\bGET\b/);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
    expect(app.seen.length).toBe(before);
  });

  it('headers larger than server.limits.max_header_bytes → 431, no Retry-After; the app is not called', async () => {
    const before = app.seen.length;
    const r = await send(`${edge}/public/x`, { 'x-pad': 'p'.repeat(3_000) });
    expect([r.status, r.json?.code], r.text).toEqual([431, 'PORTCULLIS_ERR_HEADERS_TOO_LARGE']);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(app.seen.length).toBe(before);
  });

  it('a target longer than server.limits.max_url_bytes → 414, no Retry-After; the app is not called', async () => {
    const before = app.seen.length;
    const r = await send(`${edge}/public/${'a'.repeat(300)}`, {});
    expect([r.status, r.json?.code], r.text).toEqual([414, 'PORTCULLIS_ERR_URL_TOO_LONG']);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(app.seen.length).toBe(before);
  });
});
