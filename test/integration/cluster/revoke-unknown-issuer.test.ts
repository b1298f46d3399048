// A revocation scoped to an issuer no configured issuer has (`POST /revocations` with `issuer`,
// `portcullis revoke --issuer`) matches no token the proxy accepts: it was stored (201, "revoked")
// and revoked nothing. Refused 400 naming the field and the configured issuers — checked against
// the member's current config (a reload that adds the issuer makes it valid), one process and
// --workers 2, and by the CLI before it publishes on NATS (it has the config); a file whose policy is the
// cluster's has no issuers to check against: the CLI refuses --issuer there.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, baseConfig, reloadWith, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { deadPort, fixtureIssuer, startFixtureJwks, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { TEST_ISSUER } from '../../fixtures/tokens.js';

const OTHER = 'https://not-configured.example/realms/x';
let jwks: ScriptedUpstream;
beforeAll(async () => { jwks = await startFixtureJwks(); });
afterAll(async () => { await jwks?.close(); });

async function revoke(p: ProxyProcess, body: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(`${p.adminUrl}/revocations`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

const config = (issuers: Record<string, unknown>): Record<string, unknown> =>
  baseConfig('http://127.0.0.1:9', { issuers, log: { level: 'info', access: false } });

describe.each([
  ['one process', [] as string[]],
  ['--workers 2', ['--workers', '2']],
])('POST /revocations with an issuer nobody configured, %s', (_name, args) => {
  let proxy: ProxyProcess;
  beforeAll(async () => { proxy = await startProxy(config({ main: fixtureIssuer(jwks.url) }), { args, timeoutMs: 30_000 }); });
  afterAll(async () => { await proxy?.stop(); });

  it('is refused 400 naming the field and the configured issuers; nothing is held', async () => {
    const r = await revoke(proxy, { kind: 'sub', value: 'alice', issuer: OTHER });
    expect(r.status, r.text).toBe(400);
    const body = JSON.parse(r.text) as { error: string; message: string; errors: string[] };
    expect(body.error).toBe('invalid_request');
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]).toMatch(/^issuer: /);
    expect(body.errors[0]).toContain(OTHER);
    expect(body.errors[0]).toContain(TEST_ISSUER);
    const held = await fetch(`${proxy.adminUrl}/revocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(await held.text()).not.toContain('alice');
  });

  it('a configured issuer, or none, is accepted as before', async () => {
    expect((await revoke(proxy, { kind: 'sub', value: 'bob', issuer: TEST_ISSUER })).status).toBe(201);
    expect((await revoke(proxy, { kind: 'sub', value: 'carol' })).status).toBe(201);
  });

  it('checks against the current config: a reload that adds the issuer makes it valid', async () => {
    await reloadWith(proxy, config({ main: fixtureIssuer(jwks.url), other: fixtureIssuer(jwks.url, { issuer: OTHER }) }));
    expect((await revoke(proxy, { kind: 'sub', value: 'dave', issuer: OTHER })).status).toBe(201);
  });
});

describe('portcullis revoke --issuer with an issuer nobody configured', () => {
  it('through the admin API (--admin URL): exit 2 with the admin API\'s reason', async () => {
    const proxy = await startProxy(config({ main: fixtureIssuer(jwks.url) }), { timeoutMs: 30_000 });
    try {
      const r = await runCli(['revoke', '--admin', proxy.adminUrl, '--admin-token-env', 'PORTCULLIS_TEST_ADMIN_TOKEN', '--sub', 'erin', '--issuer', OTHER], ADMIN_ENV);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/issuer: .*not-configured\.example/);
      expect(r.stdout).not.toContain('revoked');
    } finally { await proxy.stop(); }
  });

  it('on NATS (--config naming servers): refused from the config before connecting, naming the configured issuers', async () => {
    const dead = await deadPort();
    const file = writeConfig({
      ...config({ main: fixtureIssuer(jwks.url) }),
      cluster: { nats: { servers: [`nats://127.0.0.1:${dead}`] }, auth: BUS_AUTH },
    });
    const r = await runCli(['revoke', '--config', file, '--sub', 'frank', '--issuer', OTHER], { ...ADMIN_ENV, ...BUS_ENV });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/issuer: .*not-configured\.example/);
    expect(r.stderr).toContain(TEST_ISSUER);
    expect(r.stderr).not.toMatch(/ECONNREFUSED|cannot reach|connect/i);
  }, 30_000);

  it('on NATS with a local part only (cluster.policy.source: cluster): --issuer, which nothing there can check, is refused before connecting (regression)', async () => {
    // before: published unchecked — a mistyped issuer was stored, revoked nothing, and the CLI said "revoked"
    const dead = await deadPort();
    const file = writeConfig({
      admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
      cluster: { nats: { servers: [`nats://127.0.0.1:${dead}`] }, auth: BUS_AUTH, policy: { source: 'cluster' } },
    });
    const r = await runCli(['revoke', '--config', file, '--sub', 'frank', '--issuer', OTHER], { ...ADMIN_ENV, ...BUS_ENV });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--issuer cannot be checked against');
    expect(r.stderr).toContain('give --admin URL so a member checks it');
    expect(r.stderr).not.toMatch(/ECONNREFUSED|cannot reach|connect/i);
  }, 30_000);
});
