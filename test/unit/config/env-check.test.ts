// checkEnvironment: every `*_env` field the config names, found wherever it sits (maps,
// route lists), reported with its config path when its variable is unset or empty; the
// DPoP nonce secret's length; files that must be readable (listener TLS files loadable); values
// never appear in a message.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkEnvironment, madeAtStartWarnings, validateConfig, type Config } from '../../../node/config/index.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';

function config(extra: Record<string, unknown> = {}): Config {
  const r = validateConfig({
    admin: { token_env: 'T_ADMIN' },
    issuers: { main: { issuer: 'https://as.example', audiences: ['api'], introspection: { client_id: 'c', client_secret_env: 'T_INTRO' } } },
    upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
    routes: [
      { name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none', client_credentials: { issuer: 'main', client_id: 'c', client_secret_env: 'T_ROUTE_CC' } },
    ],
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('checkEnvironment', () => {
  it('reports each unset or empty variable with its path, in config order', () => {
    expect(checkEnvironment(config(), { T_INTRO: '' })).toEqual([
      { path: 'admin.token_env', message: 'environment variable T_ADMIN is not set' },
      { path: 'issuers.main.introspection.client_secret_env', message: 'environment variable T_INTRO is empty' },
      { path: 'routes[0].client_credentials.client_secret_env', message: 'environment variable T_ROUTE_CC is not set' },
    ]);
  });

  it('every variable set: no problem', () => {
    expect(checkEnvironment(config(), { T_ADMIN: 'x', T_INTRO: 'y', T_ROUTE_CC: 'z' })).toEqual([]);
  });

  it('a variable named like an Object.prototype member (toString, constructor…) and not set is reported unset (before: the function found on the prototype passed for its value — check-config ok, then every SSF push 500)', () => {
    const cfg = config({ admin: { token_env: 'toString' }, dpop: { nonce: { secret_env: 'valueOf' } }, cluster: { nats: { servers: ['nats://127.0.0.1:4222'] }, auth: { key_env: 'constructor' } } });
    const problems = checkEnvironment(cfg, { T_INTRO: 'y', T_ROUTE_CC: 'z' });
    expect(problems.map((p) => [p.path, /is not set$/.test(p.message)])).toEqual([
      ['admin.token_env', true], ['dpop.nonce.secret_env', true], ['cluster.auth.key_env', true],
    ]);
    // set, it is read as any other variable
    expect(checkEnvironment(cfg, { T_INTRO: 'y', T_ROUTE_CC: 'z', toString: 'x', valueOf: 'n'.repeat(32), constructor: 'k'.repeat(32) } as Record<string, string>)).toEqual([]);
  });

  it('a DPoP nonce secret under 32 bytes names its length, never its value', () => {
    const env = { T_ADMIN: 'x', T_INTRO: 'y', T_ROUTE_CC: 'z', T_NONCE: 'sekrit-value' };
    const problems = checkEnvironment(config({ dpop: { nonce: { secret_env: 'T_NONCE' } } }), env);
    expect(problems).toEqual([{ path: 'dpop.nonce.secret_env', message: 'T_NONCE must hold at least 32 bytes (has 12)' }]);
    expect(JSON.stringify(problems)).not.toContain('sekrit');
    expect(checkEnvironment(config({ dpop: { nonce: { secret_env: 'T_NONCE' } } }), { ...env, T_NONCE: 'n'.repeat(32) })).toEqual([]);
  });

  it('a bus key under 32 bytes (variable or file, previous key too) names its length, never its value; mode none needs none', () => {
    const env = { T_ADMIN: 'x', T_INTRO: 'y', T_ROUTE_CC: 'z', T_BUS: 'short-bus-key', T_BUS_OLD: 'o'.repeat(31) };
    const nats = { servers: ['nats://127.0.0.1:4222'] };
    const problems = checkEnvironment(config({ cluster: { nats, auth: { key_env: 'T_BUS', previous_key_env: 'T_BUS_OLD' } } }), env);
    expect(problems).toEqual([
      { path: 'cluster.auth.key_env', message: 'T_BUS must hold at least 32 bytes (has 13); e.g. openssl rand -base64 48' },
      { path: 'cluster.auth.previous_key_env', message: 'T_BUS_OLD must hold at least 32 bytes (has 31); e.g. openssl rand -base64 48' },
    ]);
    expect(JSON.stringify(problems)).not.toContain('short-bus-key');
    const long = { ...env, T_BUS: 'k'.repeat(32), T_BUS_OLD: 'o'.repeat(32) };
    expect(checkEnvironment(config({ cluster: { nats, auth: { key_env: 'T_BUS', previous_key_env: 'T_BUS_OLD' } } }), long)).toEqual([]);
    // a file's trailing newline (openssl rand … > bus.key) is not part of the key, as at start
    const dir = mkdtempSync(join(tmpdir(), 'env-check-'));
    const file = join(dir, 'bus.key');
    writeFileSync(file, `${'f'.repeat(31)}\n`);
    expect(checkEnvironment(config({ cluster: { nats, auth: { key_file: file } } }), env)).toEqual([
      { path: 'cluster.auth.key_file', message: `the key in ${file} must hold at least 32 bytes (has 31); e.g. openssl rand -base64 48` },
    ]);
    writeFileSync(file, `${'f'.repeat(32)}\n`);
    expect(checkEnvironment(config({ cluster: { nats, auth: { key_file: file } } }), env)).toEqual([]);
    expect(checkEnvironment(config({ cluster: { nats, auth: { mode: 'none' } } }), env)).toEqual([]);
  });

  it('every *_file must be a readable file; a missing internal_tokens.key_file is fine (created at start), a directory is not', () => {
    const env = { T_ADMIN: 'x', T_INTRO: 'y', T_ROUTE_CC: 'z' };
    const dir = mkdtempSync(join(tmpdir(), 'env-check-'));
    const cert = join(dir, 'tls.crt');
    writeFileSync(cert, 'not a certificate');
    const cfg = (tls: Record<string, string>, keyFile: string): Config => config({
      server: { tls }, internal_tokens: { issuer: 'https://p.example', key_file: keyFile },
    });
    const pair = selfSignedCert();
    expect(checkEnvironment(cfg({ cert_file: pair.cert, key_file: pair.key }, join(dir, 'created-later.pem')), env)).toEqual([]);
    // readable but not loadable by the listener (tls-files.ts)
    expect(checkEnvironment(cfg({ cert_file: cert, key_file: cert }, join(dir, 'created-later.pem')), env)).toEqual([
      { path: 'server.tls.cert_file', message: `${cert}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)` },
      { path: 'server.tls.key_file', message: `${cert}: not a PEM private key (an encrypted one needs passphrase_env)` },
    ]);
    // (another directory: the policy naming the listener's key file is refused on its own, local-secrets.ts)
    const other = mkdtempSync(join(tmpdir(), 'env-check-'));
    expect(checkEnvironment(cfg({ cert_file: join(dir, 'missing.crt'), key_file: dir }, other), env)).toEqual([
      { path: 'server.tls.cert_file', message: `cannot read ${join(dir, 'missing.crt')}: no such file (ENOENT)` },
      { path: 'server.tls.key_file', message: `${dir} is not a file` },
      { path: 'internal_tokens.key_file', message: `${other} is not a file` },
    ]);
  });

  it('a snapshot/state folder that takes no file: refused at start (stateFolders), not on a reload of the same restart-only paths', () => {
    const env = { T_ADMIN: 'x', T_INTRO: 'y', T_ROUTE_CC: 'z', T_BUS: 'k'.repeat(32) };
    const gone = join(mkdtempSync(join(tmpdir(), 'env-check-')), 'removed-since-start');
    const doc = {
      admin: { token_env: 'T_ADMIN' }, upstreams: { app: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none' }],
      cluster: { nats: { servers: ['nats://127.0.0.1:9'] }, auth: { key_env: 'T_BUS' }, revocation: { snapshot_file: join(gone, 'revocations.json') } },
    };
    const atStart = validateConfig(doc, { env, stateFolders: true });
    expect(atStart.ok ? [] : atStart.errors).toEqual([{ path: 'cluster.revocation.snapshot_file', message: expect.stringMatching(/^cannot write .*removed-since-start\/revocations\.json: its folder .*: no such file \(ENOENT\)$/) }]);
    // a reload (SIGHUP, POST /reload) cannot move the path: refusing it only froze the running config
    expect(validateConfig(doc, { env }).ok).toBe(true);
  });

  it('a decision unix socket whose folder does not exist: refused at start naming the field and the folder', () => {
    // before: check-config said ok (the systemd unit's ExecStartPre passed), then serve stopped with
    // "server.decision.unix_socket: cannot listen on …" and no reason, restarted until the start limit
    const gone = join(mkdtempSync(join(tmpdir(), 'env-check-')), 'run-portcullis');
    const doc = {
      server: { decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }], unix_socket: { path: join(gone, 'decision.sock') } } },
      upstreams: { app: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none' }],
    };
    const atStart = validateConfig(doc, { env: {}, stateFolders: true });
    expect(atStart.ok ? [] : atStart.errors).toEqual([{ path: 'server.decision.unix_socket.path', message: expect.stringMatching(/^cannot write .*run-portcullis\/decision\.sock: its folder .*run-portcullis: no such file \(ENOENT\)$/) }]);
    expect(validateConfig({ ...doc, server: { decision: { ...doc.server.decision, unix_socket: { path: join(tmpdir(), 'decision.sock') } } } }, { env: {}, stateFolders: true }).ok).toBe(true);
  });

  it('check-config before the unit starts (stateFolders: before-start): a folder systemd makes at start may be missing, any other may not', () => {
    // before: check-config by hand refused /run/portcullis/decision.sock while the unit (RuntimeDirectory=portcullis) was stopped
    const tag = `portcullis-test-${Math.random().toString(36).slice(2, 10)}`;
    const elsewhere = join(mkdtempSync(join(tmpdir(), 'env-check-')), 'typo');
    const doc = (socket: string, stateFile: string): Record<string, unknown> => ({
      server: { decision: { endpoints: [{ path: '/_portcullis/auth', dialect: 'auto' }], unix_socket: { path: socket } } },
      upstreams: { app: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none' }],
      cluster: { nats: { servers: ['nats://127.0.0.1:9'] }, auth: { key_env: 'T_BUS' }, policy: { state_file: stateFile } },
    });
    const env = { T_BUS: 'k'.repeat(32) };
    const unitMade = doc(`/run/${tag}/edge/decision.sock`, `/var/lib/${tag}/policy.json`);
    const checked = validateConfig(unitMade, { env, stateFolders: 'before-start' });
    expect(checked.ok ? [] : checked.errors).toEqual([]);
    expect(madeAtStartWarnings(checked.ok ? checked.config : ({} as Config))).toEqual([
      { path: 'cluster.policy.state_file', message: `/var/lib/${tag} does not exist yet: systemd makes it when the unit starts if the unit has StateDirectory=${tag}; serve refuses to start (exit 2) while it is still missing` },
      { path: 'server.decision.unix_socket.path', message: `/run/${tag}/edge does not exist yet: systemd makes it when the unit starts if the unit has RuntimeDirectory=${tag}/edge; serve refuses to start (exit 2) while it is still missing` },
    ]);
    // serve at start: still refused, both
    const atStart = validateConfig(unitMade, { env, stateFolders: true });
    expect(atStart.ok ? [] : atStart.errors).toEqual([
      { path: 'cluster.policy.state_file', message: `cannot write /var/lib/${tag}/policy.json: its folder /var/lib/${tag}: no such file (ENOENT); under systemd the unit needs StateDirectory=${tag}` },
      { path: 'server.decision.unix_socket.path', message: `cannot write /run/${tag}/edge/decision.sock: its folder /run/${tag}/edge: no such file (ENOENT); under systemd the unit needs RuntimeDirectory=${tag}/edge` },
    ]);
    // a missing folder elsewhere (a typo) is refused by check-config too
    const typo = validateConfig(doc(join(elsewhere, 'decision.sock'), join(elsewhere, 'policy.json')), { env, stateFolders: 'before-start' });
    expect((typo.ok ? [] : typo.errors).map((e) => e.path).sort()).toEqual(['cluster.policy.state_file', 'server.decision.unix_socket.path']);
  });

  it('validateConfig with an environment: schema, reference and environment problems in one run', () => {
    const r = validateConfig({
      admin: { token_env: 'T_ADMIN' },
      upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
      routes: [{ name: 'a', match: { path: '/a' }, upstream: 'nope', auth: 'none' }],
      log: { levle: 'info' },
    }, { env: {} });
    expect(r.ok).toBe(false);
    const paths = (r as { errors: { path: string }[] }).errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['log.levle', 'routes[0].upstream', 'admin.token_env']));
    // without an environment only the file is judged
    expect(validateConfig({ admin: { token_env: 'T_ADMIN' }, upstreams: { app: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: 'none' }] }).ok).toBe(true);
  });
});
