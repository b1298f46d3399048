// A reload is all or nothing (issue 9.1), against real processes: a refused reload — an
// unset `*_env` secret of any component, or a key file only the prepare step can read —
// changes nothing a client or an operator can see (token verdicts, the lifetime of minted
// internal tokens, /readyz, config_version); a committed reload that adds an issuer whose
// keys cannot load leaves every other route and /readyz at 200. Single process and
// `--workers 2`, where every worker applies the new config or none does.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';
import { admin, call, waitReady } from './policy-fixtures.js';
import { workerPids } from '../../helpers/worker-processes.js';
import { waitFor } from '../../helpers/wait.js';

const INTERNAL_ISS = 'https://portcullis.test';
const REFUSED_LOG = /keeping the running config/;

let as: AuthServer;
let echo: EchoUpstream;
/** The candidate configs move upstream `app` here: a refused reload must keep sending to `echo`. */
let echoB: EchoUpstream;
/** A live issuer that only refused candidates name: it must never be asked for keys. */
let asThird: AuthServer;
/** An issuer URL nobody answers at: its discovery and JWKS fetches fail. */
let deadIssuer: string;
/** An Ed25519 private key file: unusable for internal_tokens alg ES256 (only the prepare step reads it). */
let wrongKeyFile: string;

beforeAll(async () => {
  [as, echo, echoB, asThird] = await Promise.all([
    startAuthServer({ issuerPath: '/realms/strict' }), startEchoUpstream(), startEchoUpstream({ name: 'echo-b' }), startAuthServer({ issuerPath: '/realms/third' }),
  ]);
  deadIssuer = `http://127.0.0.1:${await deadPort()}/realms/second`;
  wrongKeyFile = writeConfig('').replace(/portcullis\.yaml$/, 'ed25519.pem');
  writeFileSync(wrongKeyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
});

afterAll(async () => {
  await Promise.all([as?.close(), echo?.close(), echoB?.close(), asThird?.close()]);
});

/** The running config of issue 9.1: issuer demo accepts only ES256 tokens for `strict-api`; internal tokens live 120 s. */
function running(keyFile?: string): Record<string, unknown> {
  return baseConfig(echo.url, {
    issuers: { demo: { issuer: as.issuer, audiences: ['strict-api'], algorithms: ['ES256'] } },
    routes: [
      { name: 'r', match: { path: '/r/*' }, upstream: 'app', auth: {} },
      { name: 'minted', match: { path: '/m/*' }, upstream: 'app', auth: {}, forward: { token: 'internal' } },
      { name: 'public', match: { path: '/public/*' }, upstream: 'app', auth: 'none' },
    ],
    internal_tokens: { issuer: INTERNAL_ISS, max_ttl_s: 120, signing: 'inline', ...(keyFile !== undefined ? { key_file: keyFile } : {}) },
    verifier: { pool_size: 1 },
  });
}

/**
 * The reload candidate of issue 9.1: demo widened to RS256 + `portcullis-demo`, internal tokens
 * shortened to 30 s, upstream `app` moved to echo-b, plus `extra` (the part that must make the
 * whole reload fail).
 */
function candidate(extra: { demo?: Record<string, unknown>; issuers?: Record<string, unknown>; upstreams?: Record<string, unknown>; routes?: unknown[]; dpop?: unknown; keyFile?: string } = {}): Record<string, unknown> {
  const base = running();
  return {
    ...base,
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], algorithms: ['RS256', 'ES256'], ...(extra.demo ?? {}) }, ...(extra.issuers ?? {}) },
    upstreams: { app: { targets: [echoB.url] }, ...(extra.upstreams ?? {}) },
    routes: [...(base.routes as unknown[]), ...(extra.routes ?? [])],
    internal_tokens: { issuer: INTERNAL_ISS, max_ttl_s: 30, signing: 'inline', ...(extra.keyFile !== undefined ? { key_file: extra.keyFile } : {}) },
    ...(extra.dpop !== undefined ? { dpop: extra.dpop } : {}),
  };
}

/** A second issuer whose keys cannot load and whose introspection secret variable is unset. */
const SECOND_UNSET_SECRET = { second: { issuer: '', audiences: ['second-api'], introspection: { client_id: 'portcullis', client_secret_env: 'PT_RELOAD_UNSET_INTROSPECTION' } } };
const secondUnsetSecret = (): Record<string, unknown> => ({
  second: { ...SECOND_UNSET_SECRET.second, issuer: deadIssuer },
  third: { issuer: asThird.issuer, audiences: ['third-api'] },
});

let seq = 0;
/** RS256, aud portcullis-demo: refused by the running config (401), accepted by the candidate. */
const widenedToken = (): Promise<string> => as.issueJwt({ aud: 'portcullis-demo', sub: `rs-${seq++}` }, { alg: 'RS256' });
/** ES256, aud strict-api: accepted by the running config. */
const strictToken = (): Promise<string> => as.issueJwt({ aud: 'strict-api', sub: `es-${seq++}` }, { alg: 'ES256' });

/** exp − iat of the internal token minted for a fresh inbound token (fresh: nothing cached). */
async function mintedLifetime(p: ProxyProcess): Promise<number> {
  const r = await call(`${p.url}/m/x`, { token: await strictToken(), fresh: true });
  expect(r.status, r.text).toBe(200);
  const auth = String(r.json?.headers.authorization);
  const claims = JSON.parse(Buffer.from(auth.slice('Bearer '.length).split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
  return claims.exp - claims.iat;
}

const readyz = async (p: ProxyProcess): Promise<{ status: number; json: Record<string, any> | null }> => {
  const r = await admin(p, 'GET', '/readyz'); // with the admin token: the details (version, workers)
  return { status: r.status, json: r.json };
};
/** The file-reload series of `p`'s /metrics: applied and refused reloads, and whether the last one applied. */
const reloadSeries = async (p: ProxyProcess): Promise<{ applied: number; refused: number; last: number }> => {
  const text = (await admin(p, 'GET', '/metrics')).text;
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  return { applied: num(/^portcullis_config_reloads_total\{result="applied"\} (\d+)$/m), refused: num(/^portcullis_config_reloads_total\{result="refused"\} (\d+)$/m), last: num(/^portcullis_config_last_reload_successful (\d+)$/m) };
};
const refusals = (p: ProxyProcess): number => p.logs().filter((l) => REFUSED_LOG.test(String(l.msg)) && l.level === 50).length;

// The two suites have a proxy each (they share only the servers, which each only reads) and mostly
// wait on start-ups and reloads: they run side by side (describe.concurrent); the cases of each
// build on the one before (the file and version they leave), so they stay in order (it.sequential).
describe.concurrent('single process: a refused reload changes nothing', () => {
  let proxy: ProxyProcess;
  let file: string;
  const status = async (path: string, token?: string): Promise<number> => (await call(`${proxy.url}${path}`, token === undefined ? {} : { token })).status;
  const rewrite = (cfg: unknown): void => writeFileSync(file, stringify(cfg));

  /** What every refused reload must leave exactly as it was. */
  async function unchanged(): Promise<void> {
    expect(await status('/r/x', await widenedToken())).toBe(401);
    expect(await status('/r/x', await strictToken())).toBe(200);
    expect(await mintedLifetime(proxy)).toBe(120);
    expect((await call(`${proxy.url}/public/x`)).json?.upstream).toBe('echo');
    const r = await readyz(proxy);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ ready: true, config_version: 1 });
  }

  beforeAll(async () => {
    file = writeConfig(running());
    proxy = await startProxy(null, { env: { ...ADMIN_ENV, PT_RELOAD_SHORT_DPOP: 'too-short' }, configPath: file });
    await waitReady(proxy);
    await unchanged();
  });
  afterAll(async () => { await proxy?.stop(); });

  it.sequential('issue 9.1: RS256/portcullis-demo plus a second issuer with an unset introspection secret → 422, the RS256 token stays 401, version stays 1', async () => {
    rewrite(candidate({ issuers: secondUnsetSecret() }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    expect(r.json?.reloaded).toBe(false);
    await unchanged();
    expect(r.json?.errors).toContainEqual({ path: 'issuers.second.introspection.client_secret_env', message: expect.stringContaining('PT_RELOAD_UNSET_INTROSPECTION') });
    await waitFor('refusals(proxy) === 1', () => refusals(proxy) === 1, 2_000);

    // the same through SIGHUP
    proxy.proc.kill('SIGHUP');
    await waitFor('refusals(proxy) === 2', () => refusals(proxy) === 2, 3_000);
    await unchanged();
    // the refused config's new issuers were never started: nobody asked the third one for keys
    expect(asThird.counters).toMatchObject({ discovery: 0, jwks: 0 });
  });

  it.sequential('an unset client_credentials.client_secret_env refuses the reload: nothing of it applies', async () => {
    rewrite(candidate({
      upstreams: { billing: { targets: [echo.url], client_credentials: { issuer: 'demo', client_id: 'portcullis', client_secret_env: 'PT_RELOAD_UNSET_CC' } } },
      routes: [{ name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' }],
    }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    await unchanged();
    expect(await status('/billing/x')).toBe(404); // the new route did not arrive either
    expect(r.json?.errors).toContainEqual({ path: 'upstreams.billing.client_credentials.client_secret_env', message: expect.stringContaining('PT_RELOAD_UNSET_CC') });
  });

  it.sequential('an unset or too short dpop.nonce.secret_env refuses the reload: the internal-token max_ttl_s change does not apply', async () => {
    rewrite(candidate({ dpop: { nonce: { secret_env: 'PT_RELOAD_UNSET_DPOP' } } }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    await unchanged();
    expect(r.json?.errors).toContainEqual({ path: 'dpop.nonce.secret_env', message: expect.stringContaining('PT_RELOAD_UNSET_DPOP') });

    rewrite(candidate({ dpop: { nonce: { secret_env: 'PT_RELOAD_SHORT_DPOP' } } }));
    const short = await admin(proxy, 'POST', '/reload');
    expect(short.status).toBe(422);
    await unchanged();
    expect(short.json?.errors).toContainEqual({ path: 'dpop.nonce.secret_env', message: expect.stringContaining('at least 32 bytes') });
  });

  it.sequential('an unset token_exchange.client_secret_env refuses the reload', async () => {
    rewrite(candidate({ demo: { token_exchange: { client_id: 'portcullis', client_secret_env: 'PT_RELOAD_UNSET_EXCHANGE' } } }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    await unchanged();
    expect(r.json?.errors).toContainEqual({ path: 'issuers.demo.token_exchange.client_secret_env', message: expect.stringContaining('PT_RELOAD_UNSET_EXCHANGE') });
  });

  it.sequential('a key file the new config cannot use (found only when the new config is built) refuses the whole reload, with its path', async () => {
    rewrite(candidate({ keyFile: wrongKeyFile }));
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status).toBe(422);
    expect(r.json?.reloaded).toBe(false);
    await unchanged();
    expect(r.json?.errors).toContainEqual({ path: 'internal_tokens.key_file', message: expect.stringContaining('cannot sign ES256') });
    // what an operator alerts on: the old config still serves, and /metrics says the last reload was refused
    const m = await reloadSeries(proxy);
    expect(m).toMatchObject({ applied: 0, last: 0 });
    expect(m.refused).toBeGreaterThanOrEqual(2);
  });

  it.sequential('a committed reload adding an issuer whose keys cannot load: its route answers 503, the others and /readyz stay 200; the version counts committed reloads only', async () => {
    const cfg = running();
    rewrite({
      ...cfg,
      issuers: { ...(cfg.issuers as object), second: { issuer: deadIssuer, audiences: ['second-api'], jwks: { timeout_ms: 500 } } },
      routes: [...(cfg.routes as unknown[]), { name: 's', match: { path: '/s/*' }, upstream: 'app', auth: { issuers: ['second'] } }],
    });
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ reloaded: true, version: 2 }); // the seven refused reloads before did not count
    expect(await status('/r/x', await strictToken())).toBe(200);
    expect(await status('/public/x')).toBe(200);
    const forSecond = await as.issueJwt({ iss: deadIssuer, aud: 'second-api' }, { alg: 'ES256' });
    const s = await call(`${proxy.url}/s/x`, { token: forSecond });
    expect(s.status).toBe(503);
    expect(s.headers['retry-after']).toBeDefined();
    const ready = await readyz(proxy);
    expect(ready.status, JSON.stringify(ready.json)).toBe(200);
    expect(ready.json).toMatchObject({ ready: true, config_version: 2, issuers_waiting: ['second'], issuers: { demo: { keys: true }, second: { keys: false } } });
    expect(await reloadSeries(proxy)).toMatchObject({ applied: 1, last: 1 });
  });
});

/** Worker pids of a `--workers` primary. */
describe.concurrent('serve --workers 2: every worker applies the new config, or none does', () => {
  let proxy: ProxyProcess;
  let file: string;
  /** Workers sign internal tokens with one key file (created by the first worker). */
  let keyFile: string;
  const rewrite = (cfg: Record<string, unknown>): void => {
    const it = cfg.internal_tokens as Record<string, unknown>;
    writeFileSync(file, stringify({ ...cfg, internal_tokens: { key_file: keyFile, ...it } }));
  };
  /** `n` requests on fresh connections (SO_REUSEPORT spreads them): statuses and the pids that answered. */
  const spread = async (tag: string, token: () => Promise<string>, n = 16): Promise<{ statuses: number[]; pids: Set<unknown> }> => {
    const answers = await Promise.all(Array.from({ length: n }, async (_, i) => (await call(`${proxy.url}/r/${tag}/${i}`, { token: await token(), fresh: true })).status));
    const lines = (): Record<string, unknown>[] => proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith(`/r/${tag}/`));
    // every worker's access lines (asynchronous logs) before counting the pids that answered
    await waitFor('lines().length === n', () => lines().length === n, 15_000);
    return { statuses: [...new Set(answers)], pids: new Set(lines().map((l) => l.pid)) };
  };
  /** Every worker still judges with the running config. */
  async function unchanged(tag: string): Promise<void> {
    const widened = await spread(`${tag}-rs`, widenedToken);
    expect(widened.statuses).toEqual([401]);
    expect(widened.pids.size).toBe(2);
    const strict = await spread(`${tag}-es`, strictToken);
    expect(strict.statuses).toEqual([200]);
    expect(strict.pids.size).toBe(2);
  }

  beforeAll(async () => {
    file = writeConfig('');
    keyFile = file.replace(/portcullis\.yaml$/, 'internal.pem');
    rewrite(running());
    proxy = await startProxy(null, { env: ADMIN_ENV, configPath: file, args: ['--workers', '2'], timeoutMs: 40_000 });
    await waitReady(proxy, 15_000);
  });
  afterAll(async () => { await proxy?.stop(); });

  it.sequential('an unset secret variable: 422 from the primary, no worker switches', async () => {
    await unchanged('start');
    expect((await readyz(proxy)).json).toMatchObject({ ready: true, config_version: 1 });
    rewrite(candidate({ issuers: secondUnsetSecret() }));
    const r = await admin(proxy, 'POST', '/reload');
    await unchanged('env');
    expect(r.status).toBe(422);
    expect(r.json?.reloaded).toBe(false);
    expect(r.json?.errors).toContainEqual({ path: 'issuers.second.introspection.client_secret_env', message: expect.stringContaining('PT_RELOAD_UNSET_INTROSPECTION') });

    rewrite(candidate({
      upstreams: { billing: { targets: [echo.url], client_credentials: { issuer: 'demo', client_id: 'portcullis', client_secret_env: 'PT_RELOAD_UNSET_CC' } } },
      routes: [{ name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' }],
    }));
    proxy.proc.kill('SIGHUP');
    await waitFor('refusals(proxy) >= 2', () => refusals(proxy) >= 2, 3_000);
    await unchanged('env-hup');
  });

  it.sequential('a config the workers cannot build (key file): 422 with the path, no worker switches', async () => {
    rewrite(candidate({ keyFile: wrongKeyFile }));
    const r = await admin(proxy, 'POST', '/reload');
    await unchanged('keyfile');
    expect(r.status).toBe(422);
    expect(r.json?.reloaded).toBe(false);
    expect(r.json?.errors).toContainEqual({ path: 'internal_tokens.key_file', message: expect.stringContaining('cannot sign ES256') });
    // counted by the primary, which decided them (the primary's own refusals and the workers' alike)
    const m = await reloadSeries(proxy);
    expect(m).toMatchObject({ applied: 0, last: 0 });
    expect(m.refused).toBeGreaterThanOrEqual(3);
  });

  it.sequential('a worker that does not answer: the reload is refused and the worker that could apply it does not', async () => {
    const pids = workerPids(proxy.proc.pid!);
    expect(pids).toHaveLength(2);
    rewrite(candidate());
    process.kill(pids[0]!, 'SIGSTOP');
    let r;
    try {
      r = await admin(proxy, 'POST', '/reload');
    } finally {
      process.kill(pids[0]!, 'SIGCONT');
    }
    await unchanged('stopped');
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ reloaded: false, workers: 2 });
    // three refused reloads did not count
    expect((await readyz(proxy)).json).toMatchObject({ ready: true, config_version: 1 });
  });

  it.sequential('a worker restarted after a refused reload runs the committed config, not the edited file', async () => {
    // the file still holds the candidate the previous test could not apply
    const before = workerPids(proxy.proc.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor('the killed worker replaced and both ready', async () => {
      const now = workerPids(proxy.proc.pid!);
      return now.length === 2 && !now.includes(before[0]!) && (await readyz(proxy)).json?.workers_ready === 2;
    }, 45_000); // restart backoff plus a full worker boot, which takes 10-20 s on a loaded 2-core machine
    await unchanged('restarted');
    expect((await readyz(proxy)).json).toMatchObject({ ready: true, config_version: 1 });
  }, 90_000);

  it.sequential('a good config: every worker switches, and /readyz and the answer agree on the version', async () => {
    rewrite(candidate());
    const r = await admin(proxy, 'POST', '/reload');
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ reloaded: true, version: 2, workers: 2, workers_ok: 2 });
    const widened = await spread('good-rs', widenedToken);
    expect(widened.statuses).toEqual([200]);
    expect(widened.pids.size).toBe(2);
    expect((await readyz(proxy)).json).toMatchObject({ ready: true, config_version: 2 });
    await waitFor('/readyz 200', async () => (await readyz(proxy)).status === 200);
  });
});
