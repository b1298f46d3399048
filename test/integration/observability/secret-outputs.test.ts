// Tokens and secrets in the operator-side outputs the request-path tests do not reach: the audit
// record of POST /explain when the explained request carries its token in the query
// (`?access_token=`) or in a path segment, a refused revocation whose value is a raw token under a mistyped kind (or
// under a right one, or in its reason: refused, never stored),
// `portcullis revoke --admin URL` when what answers at that URL echoes the request back, and a
// secret pasted where a `*_env` variable name belongs; and the HTTP/2 listener's line and span for a
// request refused before routing, whose `:path` carries the query (uWS hands the path alone).
// None of them may print or store the raw token or the admin token.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';
import { h2Fetch, http2PortOf, publicH2Config } from '../../helpers/h2-client.js';
import { attr, startOtlpCollector, type OtlpCollector } from '../../helpers/otlp-collector.js';
import { waitFor } from '../../helpers/wait.js';

const fp = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

let as: AuthServer;
let echo: EchoUpstream;

beforeAll(async () => { [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]); });
afterAll(async () => { await Promise.all([as?.close(), echo?.close()]); });

describe('audit records of admin calls that carry a token', () => {
  let proxy: ProxyProcess;
  let file: string;

  beforeAll(async () => {
    file = join(tempDir('portcullis-secret-audit-'), 'audit.log');
    proxy = await startProxy(baseConfig(echo.url, {
      issuers: { demo: asIssuer(as) },
      routes: [{ name: 'q', match: { path: '/q/*' }, upstream: 'app', auth: { token_sources: { query: true } } }],
      log: { level: 'debug', access: true, audit: { file } },
      verifier: { pool_size: 1 },
    }));
    await waitReady(proxy);
  });
  afterAll(async () => { await proxy?.stop(); });

  const admin = async (path: string, body: unknown): Promise<number> => (await fetch(`${proxy.adminUrl}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  })).status;
  const records = (): Array<Record<string, any>> => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>) : []);

  it('POST /explain of a request with ?access_token= records the path without its query', async () => {
    const token = await as.issueJwt({ sub: 'explained' });
    expect(await admin('/explain', { method: 'GET', path: `/q/orders?access_token=${token}&page=2` })).toBe(200);
    await waitFor("records().some((r) => r.action === 'explain')", () => records().some((r) => r.action === 'explain'), 5_000);
    const rec = records().find((r) => r.action === 'explain')!;
    expect(rec.detail.path).toBe('/q/orders');
    // nor its fragment (a pasted browser URL's #access_token=): before, recorded with the path
    expect(await admin('/explain', { method: 'GET', path: `/q/orders#access_token=${token}` })).toBe(200);
    await waitFor('two explain records', () => records().filter((r) => r.action === 'explain').length === 2, 5_000);
    expect(records().filter((r) => r.action === 'explain').map((r) => r.detail.path)).toEqual(['/q/orders', '/q/orders']);
    // nor a token in a path segment (a signed link): by fingerprint, as in the access line; before, written whole
    expect(await admin('/explain', { method: 'GET', path: `/q/files/${token}` })).toBe(200);
    await waitFor('three explain records', () => records().filter((r) => r.action === 'explain').length === 3, 5_000);
    expect(records().filter((r) => r.action === 'explain')[2]!.detail.path).toBe(`/q/files/[token ${fp(token)}]`);
    // its dots escaped (the explained route's upstream decodes them back): named too; before, written as escaped
    expect(await admin('/explain', { method: 'GET', path: `/q/files/${token.replaceAll('.', '%2E')}` })).toBe(200);
    await waitFor('four explain records', () => records().filter((r) => r.action === 'explain').length === 4, 5_000);
    expect(records().filter((r) => r.action === 'explain')[3]!.detail.path).toBe(`/q/files/[token ${fp(token)}]`);
    expect(readFileSync(file, 'utf8')).not.toContain(token);
    expect(readFileSync(file, 'utf8')).not.toContain(token.split('.')[2]!);
    expect(proxy.output()).not.toContain(token.split('.')[2]!);
  });

  it('a revocation refused for its kind records a raw-token value by fingerprint only', async () => {
    const token = await as.issueJwt({ sub: 'mistyped' });
    expect(await admin('/revocations', { kind: 'tokn', value: token })).toBe(400);
    // a kind that is none of the kinds is itself named by fingerprint (it may be pasted text too)
    const mine = (r: Record<string, any>): boolean => r.action === 'revocation.add' && r.detail.kind_fingerprint === fp('tokn');
    await waitFor('records().some(mine)', () => records().some(mine), 5_000);
    const rec = records().find(mine)!;
    expect(rec.detail.kind).toBeUndefined();
    expect(rec.detail.value).toBeUndefined();
    expect(rec.detail.value_fingerprint).toBe(fp(token));
    expect(readFileSync(file, 'utf8')).not.toContain(token.split('.')[2]!);
  });

  it('a raw token pasted as a jti or sub value, or into a reason, is refused: never stored, listed or audited as written', async () => {
    // before: 201, the token stored as the "jti" — in the stream, on every member, GET /revocations, the snapshot — revoking nothing
    const token = await as.issueJwt({ sub: 'pasted-under-jti' });
    const sig = token.split('.')[2]!;
    expect(await admin('/revocations', { kind: 'jti', value: token })).toBe(400);
    expect(await admin('/revocations', { kind: 'sub', value: `Bearer ${token}` })).toBe(400);
    expect(await admin('/revocations', { kind: 'jti', value: 'a-real-jti', reason: `leaked in a ticket: ${token}` })).toBe(400);
    const listed = await (await fetch(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(listed).not.toContain(sig);
    const pasted = (r: Record<string, any>): boolean => r.action === 'revocation.add' && (r.detail.value_fingerprint === fp(token) || r.detail.value_fingerprint === fp(`Bearer ${token}`) || typeof r.detail.reason_fingerprint === 'string');
    await waitFor('records().filter(pasted).length === 3', () => records().filter(pasted).length === 3, 5_000);
    expect(readFileSync(file, 'utf8')).not.toContain(sig);
    expect(proxy.output()).not.toContain(sig);
  });
});

describe('portcullis revoke --admin URL', () => {
  let mirror: ScriptedUpstream;
  const adminSecret = 'revoke-cli-admin-secret-0f9e8d7c6b5a';

  // What a wrong --admin URL may reach: a debug endpoint or a proxy error page that mirrors the request
  beforeAll(async () => {
    mirror = await startScriptedUpstream((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d; });
      req.on('end', () => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`request was: ${req.headers.authorization} ${body}`); });
    });
  });
  afterAll(async () => { await mirror?.close(); });

  it('never prints the admin token a mirroring server echoes back', async () => {
    const token = await as.issueJwt({ sub: 'cli' });
    const r = await runCli(['revoke', '--token', token, '--admin', mirror.url], { PORTCULLIS_ADMIN_TOKEN: adminSecret });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/admin API answered 500/);
    expect(r.stdout + r.stderr).not.toContain(adminSecret);
    expect(r.stdout + r.stderr).not.toContain(token.split('.')[2]!);
  });
});

describe('a secret written where a variable name belongs', () => {
  // `client_secret_env: <the secret itself>`: alphanumeric secrets are valid variable names, so the
  // "not set" error used to print the secret to stderr (and, on a reload, into the process log)
  it('check-config names the path and never prints the value; a conventional name is still shown', async () => {
    const secret = 'q7Lr2xVb9KpT4mWz8NcY';
    const cfg = baseConfig(echo.url, {
      issuers: { demo: asIssuer(as, { introspection: { client_id: 'portcullis', client_secret_env: secret } }) },
      tracing: { enabled: true, headers: [{ name: 'authorization', value_env: 'PT_UNSET_OTLP_AUTH' }] },
    });
    const r = await runCli(['check-config', writeConfig(cfg)], { PORTCULLIS_TEST_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('issuers.demo.introspection.client_secret_env');
    expect(r.stderr).not.toContain(secret);
    expect(r.stderr).toContain('environment variable PT_UNSET_OTLP_AUTH is not set');
  });
});

describe('credentials in an upstream target URL', () => {
  // the proxy sends scheme, host and port only: `http://user:pass@host` was accepted and the
  // password silently dropped — the upstream got no credentials, the config kept them in the clear
  it('check-config refuses the target, naming its path and never the password', async () => {
    const password = 'Pa55w0rdInTarget9';
    const cfg = baseConfig(echo.url, { upstreams: { app: { targets: [echo.url.replace('http://', `http://svc:${password}@`)] } } });
    const r = await runCli(['check-config', writeConfig(cfg)], { PORTCULLIS_TEST_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('upstreams.app.targets');
    expect(r.stderr).toContain('without user:password');
    expect(r.stdout + r.stderr).not.toContain(password);
  });
});

describe('HTTP/2 listener: a request refused before routing with ?access_token=', () => {
  let proxy: ProxyProcess;
  let collector: OtlpCollector;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    proxy = await startProxy({ ...publicH2Config(echo.url), tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 64, interval_ms: 50 } } });
  });
  afterAll(async () => { await proxy?.stop(); await collector?.close(); });

  it('logs and traces the path without its query', async () => {
    const token = await as.issueJwt({ sub: 'h2-query' });
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    const r = await h2Fetch(origin, { ':method': 'GET', ':path': `/nowhere/x?access_token=${token}` });
    expect(r.status).toBe(404);
    await waitFor("proxy.logs().some((l) => l.msg === 'request' && String(l.path).startsWith('/nowhere/x'))", () => proxy.logs().some((l) => l.msg === 'request' && String(l.path).startsWith('/nowhere/x')), 5_000);
    await waitFor("collector.spans.some((sp) => String(attr(sp, 'url.path')).startsWith('/nowhere/x'))", () => collector.spans.some((sp) => String(attr(sp, 'url.path')).startsWith('/nowhere/x')), 5_000);
    expect(proxy.logs().find((l) => l.msg === 'request' && String(l.path).startsWith('/nowhere/x'))!.path).toBe('/nowhere/x');
    expect(attr(collector.spans.find((sp) => String(attr(sp, 'url.path')).startsWith('/nowhere/x'))!, 'url.path')).toBe('/nowhere/x');
    expect(proxy.output()).not.toContain(token.split('.')[2]!);
    expect(JSON.stringify(collector.spans)).not.toContain(token.split('.')[2]!);
  });
});

describe('an OTLP endpoint whose query carries a key (some vendors take one there)', () => {
  it('a failed export logs the endpoint without its query', async () => {
    const key = 'otlpQueryKey4f9c2a';
    const collector = await startOtlpCollector('fail');
    const proxy = await startProxy(baseConfig(echo.url, { tracing: { enabled: true, endpoint: `${collector.url}?api_key=${key}`, batch: { max_spans: 1, interval_ms: 20 } } }));
    try {
      expect((await fetch(`${proxy.url}/x`)).status).toBe(200);
      await waitFor("proxy.logs().some((l) => l.msg === 'trace export failed: spans dropped')", () => proxy.logs().some((l) => l.msg === 'trace export failed: spans dropped'), 5_000);
      expect(proxy.logs().find((l) => l.msg === 'trace export failed: spans dropped')!.endpoint).toBe(collector.url);
      expect(proxy.output()).not.toContain(key);
    } finally {
      await proxy.stop();
      await collector.close();
    }
  });
});
