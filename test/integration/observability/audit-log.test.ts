// The audit trail as an operator reads it: every admin action (reload by API, SIGHUP and a
// refused one; revocation; local policy push; explain; a call with a wrong token) is one JSON
// record in the `log.audit.file` (0600) with who, what, when, outcome and the versions before
// and after — and no token or admin secret anywhere in it. Reads (GET) are not audited.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, writeConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { call } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
const fp = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

function records(file: string): Array<Record<string, any>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
}

async function admin(p: ProxyProcess, method: string, path: string, body?: unknown, token = ADMIN_TOKEN, raw = false): Promise<{ status: number; json: any }> {
  const r = await fetch(`${p.adminUrl}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': raw ? 'application/yaml' : 'application/json' },
    ...(body === undefined ? {} : { body: raw ? String(body) : JSON.stringify(body) }),
  });
  const text = await r.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { /* text */ }
  return { status: r.status, json };
}

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

describe('audit log, one process', () => {
  let proxy: ProxyProcess;
  let file: string;
  let configPath: string;
  let cfg: Record<string, unknown>;

  beforeAll(async () => {
    file = join(tempDir('portcullis-audit-'), 'audit', 'admin.log');
    cfg = baseConfig(echo.url, { log: { level: 'info', access: true, audit: { file } } });
    configPath = writeConfig(cfg);
    proxy = await startProxy(cfg, { configPath });
  });
  afterAll(async () => { await proxy?.stop(); });

  it('creates the audit file 0600', () => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('records each admin action with who, what, when, outcome and versions', async () => {
    const t0 = Date.now();
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(200);
    // a refused reload: the file now names an unknown upstream
    writeFileSync(configPath, stringify({ ...cfg, routes: [{ name: 'x', match: { path: '/*' }, upstream: 'nope', auth: 'none' }] }));
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(422);
    writeFileSync(configPath, stringify(cfg));
    const secretToken = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdWRpdCJ9.c2lnbmF0dXJl';
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'jti', value: 'jti-audit-1', reason: 'stolen laptop' })).status).toBe(201);
    const tokenHash = createHash('sha256').update(secretToken).digest('hex');
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'token', value: tokenHash })).status).toBe(201);
    expect((await admin(proxy, 'POST', '/revocations', { kind: 'nope', value: 'x' })).status).toBe(400);
    expect((await admin(proxy, 'POST', '/explain', { method: 'GET', path: '/a', token: secretToken })).status).toBe(200);
    expect((await admin(proxy, 'POST', '/policy', stringify({ upstreams: cfg.upstreams, routes: cfg.routes }), ADMIN_TOKEN, true)).status).toBe(200);
    expect((await admin(proxy, 'POST', '/reload', undefined, 'wrong-admin-token')).status).toBe(401);
    // reads are not actions
    expect((await admin(proxy, 'GET', '/metrics')).status).toBe(200);
    expect((await admin(proxy, 'GET', '/revocations')).status).toBe(200);
    proxy.proc.kill('SIGHUP');

    await waitFor('records(file).length >= 9', () => records(file).length >= 9, 5_000, { detail: () => JSON.stringify(records(file)) });
    const rs = records(file);
    const summary = rs.map((r) => [r.action, r.outcome, r.actor.kind]);
    expect(summary).toEqual([
      ['config.reload', 'ok', 'admin_token'],
      ['config.reload', 'refused', 'admin_token'],
      ['revocation.add', 'ok', 'admin_token'],
      ['revocation.add', 'ok', 'admin_token'],
      ['revocation.add', 'refused', 'admin_token'],
      ['explain', 'ok', 'admin_token'],
      ['policy.push', 'ok', 'admin_token'],
      ['config.reload', 'unauthorized', 'unauthenticated'],
      ['config.reload', 'ok', 'signal'],
    ].slice(0, rs.length));
    expect(rs.length).toBe(9);
    for (const r of rs) {
      expect(r.msg).toBe('audit');
      expect(r.name).toBe('portcullis-audit');
      expect(Date.parse(r.time)).toBeGreaterThanOrEqual(t0 - 1000);
    }
    const [reload, refused, rvJti, rvToken, , explain, policy, unauthorized, hup] = rs;
    expect(reload!.actor).toEqual({ kind: 'admin_token', token: fp(ADMIN_TOKEN), address: '127.0.0.1' });
    expect(reload!.before).toEqual({ config_version: 1 });
    expect(reload!.after).toEqual({ config_version: 2 });
    expect(reload!.status).toBe(200);
    expect(refused!.after).toEqual({ config_version: 2 });
    expect(refused!.detail.error_paths.length).toBeGreaterThan(0);
    expect(rvJti!.detail).toMatchObject({ kind: 'jti', value: 'jti-audit-1', reason: 'stolen laptop' });
    expect(rvToken!.detail.value).toBeUndefined();
    expect(rvToken!.detail.value_fingerprint, 'a token revocation names its value by fingerprint only').toBe(fp(tokenHash));
    expect(explain!.detail).toMatchObject({ method: 'GET', path: '/a', token: fp(secretToken) });
    expect(policy!.after.config_version).toBe(3);
    expect(policy!.detail.body_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(unauthorized!.actor).toEqual({ kind: 'unauthenticated', token: fp('wrong-admin-token'), address: '127.0.0.1' });
    expect(hup!.actor).toEqual({ kind: 'signal', signal: 'SIGHUP' });
    expect(hup!.before).toEqual({ config_version: 3 });
    expect(hup!.after).toEqual({ config_version: 4 });

    const text = readFileSync(file, 'utf8');
    for (const secret of [secretToken, ADMIN_TOKEN, 'wrong-admin-token']) expect(text).not.toContain(secret);
    // and the audit lines are not mixed into the process log
    expect(proxy.logs().some((l) => l.msg === 'audit')).toBe(false);
  });

  // a token pasted into `kind`, `issuer` or `before` was written as is into the record (and its
  // refusal message quoted it twice); a deeply nested `kind` answered 500 (the message's JSON.stringify overflowed)
  it('a refused revocation names a malformed field by fingerprint, and a deeply nested one is a 400', async () => {
    const [k, iss, bef] = ['kind', 'iss', 'before'].map((w) => `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ${w}In0.c2lnbmF0dXJl`) as [string, string, string];
    const n = records(file).length;
    const pasted = await admin(proxy, 'POST', '/revocations', { kind: k, value: 'alice', issuer: iss, before: bef });
    expect(pasted.status).toBe(400);
    expect(pasted.json.message).toContain('kind: expected one of jti, token, sub, client_id, kid, sid, sub_without_sid, got a string of');
    const deep = await fetch(`${proxy.adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: `{"kind":${'['.repeat(200_000)}${']'.repeat(200_000)},"value":"a"}`,
    });
    expect(deep.status).toBe(400);
    // refused before it is parsed (admin-server.ts: nesting past 64 levels), and recorded as such
    expect(((await deep.json()) as { message: string }).message).toBe('body: nested deeper than 64 levels');
    await waitFor('records(file).length >= n + 2', () => records(file).length >= n + 2, 5_000);
    const [r1, r2] = records(file).slice(n);
    expect(r1).toMatchObject({ action: 'revocation.add', outcome: 'refused', status: 400 });
    expect(r1!.detail).toMatchObject({ kind_fingerprint: fp(k), issuer_fingerprint: fp(iss), before_fingerprint: fp(bef), value_fingerprint: fp('alice') });
    expect(r1!.detail.message).toContain(`[fingerprint ${fp(iss)}]`);
    expect(r2).toMatchObject({ action: 'revocation.add', outcome: 'refused', status: 400, detail: { message: 'body: nested deeper than 64 levels' } });
    const text = readFileSync(file, 'utf8');
    for (const secret of [k, iss, bef]) expect(text).not.toContain(secret);
  });

  // one client without a token wrote ~7.7k audit lines (1.8 MB) a second: anonymous traffic could fill the audit disk
  it('calls without a valid token: the first 20 a second recorded one by one, the rest of the second in one summary', async () => {
    const n = records(file).length;
    const flood = 'flood-token-not-the-admin-one';
    let refused = 0;
    for (let batch = 0; batch < 8; batch++) {
      const rs = await Promise.all(Array.from({ length: 50 }, () => admin(proxy, 'GET', '/revocations', undefined, flood)));
      refused += rs.filter((r) => r.status === 401).length;
    }
    expect(refused).toBe(400);
    const summaries = (): Array<Record<string, any>> => records(file).slice(n).filter((r) => r.action === 'admin.unauthorized_coalesced');
    const single = (): Array<Record<string, any>> => records(file).slice(n).filter((r) => r.action === 'read /revocations');
    // every refusal is in the trail, one by one or counted in a summary (written when its second ends)
    await waitFor('single().length + summaries().reduce((a, r) => a + r.detail.records, 0) === 400', () => single().length + summaries().reduce((a, r) => a + r.detail.records, 0) === 400, 10_000, { detail: () => `${single().length} single records, summaries ${JSON.stringify(summaries().map((r) => r.detail.records))}` });
    // (the earlier tests' refused calls may share the first second's 20)
    expect(single().length).toBeGreaterThanOrEqual(1);
    expect(single().length, 'most of the 400 refusals folded into summaries').toBeLessThan(400);
    for (const r of single()) expect(r.actor).toEqual({ kind: 'unauthenticated', token: fp(flood), address: '127.0.0.1' });
    for (const r of summaries()) {
      expect(r).toMatchObject({ outcome: 'unauthorized', status: 401, actor: { kind: 'unauthenticated', token: null, address: '127.0.0.1' } });
      expect(r.detail).toMatchObject({ window_ms: 1000, addresses: ['127.0.0.1'], other_addresses: 0, actions: { 'read /revocations': r.detail.records } });
    }
    const metrics = await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.text());
    const coalesced = Number(/^portcullis_audit_unauthorized_coalesced_total (\d+)$/m.exec(metrics)?.[1]);
    expect(coalesced).toBe(400 - single().length);
    // an action with the admin token is recorded on its own line, at once
    expect((await admin(proxy, 'POST', '/reload')).status).toBe(200);
    expect(records(file).at(-1)).toMatchObject({ action: 'config.reload', outcome: 'ok', actor: { kind: 'admin_token' } });
    expect(readFileSync(file, 'utf8')).not.toContain(flood);
  });
});

describe('audit log with --workers (the primary serves the admin API)', () => {
  it('records API and SIGHUP reloads once each', async () => {
    const file = join(tempDir('portcullis-audit-'), 'admin.log');
    const p = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } }), { args: ['--workers', '2'], timeoutMs: 40_000 });
    try {
      expect((await admin(p, 'POST', '/reload')).status).toBe(200);
      p.proc.kill('SIGHUP');
      await waitFor('records(file).length >= 2', () => records(file).length >= 2, 10_000);
      // a marker: a third reload, applied only once the SIGHUP's is done — its record comes after any second copy of those two
      await waitFor('the SIGHUP reload applied (config 3)', async () => (await admin(p, 'GET', '/readyz')).json.config_version === 3, 10_000);
      expect((await admin(p, 'POST', '/reload')).status).toBe(200);
      await waitFor('the marker reload\'s record', () => records(file).some((r) => r.after?.config_version === 4), 10_000);
      const rs = records(file);
      expect(rs.map((r) => [r.action, r.outcome, r.actor.kind, r.before.config_version, r.after.config_version])).toEqual([
        ['config.reload', 'ok', 'admin_token', 1, 2],
        ['config.reload', 'ok', 'signal', 2, 3],
        ['config.reload', 'ok', 'admin_token', 3, 4],
      ]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      await p.stop();
    }
  });
});

describe('audit log without a file', () => {
  it('writes the records to standard output as their own lines', async () => {
    const p = await startProxy(baseConfig(echo.url));
    try {
      expect((await admin(p, 'POST', '/reload')).status).toBe(200);
      await waitFor("p.logs().some((l) => l.msg === 'audit')", () => p.logs().some((l) => l.msg === 'audit'));
      const r = p.logs().find((l) => l.msg === 'audit')!;
      expect(r).toMatchObject({ name: 'portcullis-audit', action: 'config.reload', outcome: 'ok' });
      expect((await call(`${p.url}/x`)).status).toBe(200);
    } finally {
      await p.stop();
    }
  });
});
