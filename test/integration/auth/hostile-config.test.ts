// Hostile operator-side input, against real processes: a config (or a policy pushed to the admin
// API) that is a YAML alias bomb, nests flow collections a million deep, is tens of megabytes, or
// holds integers past 2^53 (or milliseconds past Node's timer limit) is refused with a clear error naming where — by check-config (exit 2)
// and by every reload path (POST /reload 422, SIGHUP, --watch, POST /policy 422) — while the
// running proxy keeps serving with its old config; nothing crashes.
import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, runCli, startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;
let base: string;

/** Billion laughs: nine levels of nine aliases each (9^9 strings once expanded). */
function aliasBomb(): string {
  let y = `${base}x-laughs:\n  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n`;
  for (let i = 0; i < 8; i++) {
    const prev = String.fromCharCode(97 + i), cur = String.fromCharCode(98 + i);
    y += `  ${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
  }
  return y;
}

const HOSTILE: Array<[name: string, text: () => string, message: RegExp]> = [
  ['an alias bomb', aliasBomb, /alias/i],
  ['flow collections nested 1e6 deep', () => `${base}x: ${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}\n`, /nest/i],
  ['block sequences nested 1e5 deep on one line', () => `${base}x:\n  ${'- '.repeat(100_000)}1\n`, /nest/i],
  ['a 50 MB file', () => `${base}# ${'A'.repeat(50_000_000)}\n`, /bytes/i],
];

beforeAll(async () => {
  echo = await startEchoUpstream();
  base = stringify(baseConfig(echo.url));
});
afterAll(async () => { await echo?.close(); });

describe('check-config on hostile YAML', () => {
  for (const [name, text, message] of HOSTILE) {
    it(`refuses ${name} with exit 2 and a readable reason`, async () => {
      const file = writeConfig(text());
      const r = await runCli(['check-config', '--no-env', file]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it('refuses integers past 2^53 and infinities, naming the path', async () => {
    const cfg = baseConfig(echo.url, { server: { listen: { host: '127.0.0.1', port: 0 }, timeouts: { request_ms: 99999999999999999999999 } } });
    const r = await runCli(['check-config', '--no-env', writeConfig(stringify(cfg).replace('1e+23', '99999999999999999999999'))]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('server.timeouts.request_ms');
  });

  it('refuses a millisecond value past Node timers\' 2^31-1 (it would fire after 1 ms), naming the path', async () => {
    const cfg = baseConfig(echo.url, { upstreams: { app: { targets: [echo.url], pool: { keep_alive_ms: 3_000_000_000 } } }, tracing: { enabled: true, batch: { interval_ms: 2_147_483_648 } } });
    const r = await runCli(['check-config', '--no-env', writeConfig(cfg)]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('upstreams.app.pool.keep_alive_ms');
    expect(r.stderr).toContain('tracing.batch.interval_ms');
  });
});

describe('reloading hostile YAML keeps the running config', () => {
  let proxy: ProxyProcess;
  let configPath: string;

  beforeAll(async () => {
    configPath = writeConfig(base);
    proxy = await startProxy(null, { configPath, args: ['--watch'], env: ADMIN_ENV });
  });
  afterAll(async () => { await proxy?.stop(); });

  const serves = async (): Promise<number> => (await fetch(`${proxy.url}/still-here`)).status;
  const reload = async (): Promise<{ status: number; json: any }> => {
    const r = await fetch(`${proxy.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: r.status, json: await r.json() };
  };

  for (const [name, text, message] of HOSTILE) {
    it(`${name}: POST /reload 422, SIGHUP and --watch refused, still serving`, async () => {
      const refusedBefore = proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length;
      writeFileSync(configPath, text());
      const r = await reload();
      expect(r.status, JSON.stringify(r.json)).toBe(422);
      expect(JSON.stringify(r.json.errors)).toMatch(message);
      proxy.proc.kill('SIGHUP');
      // --watch and SIGHUP each log their refusal; the process is alive and still serving
      await waitFor('proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length >= refusedBefor…', () => proxy.logs().filter((l) => /keeping the running config|refused/.test(String(l.msg))).length >= refusedBefore + 3, 20_000, { detail: () => proxy.output().slice(-2000) });
      expect(proxy.proc.exitCode, proxy.output().slice(-2000)).toBeNull();
      expect(await serves()).toBe(200);
      writeFileSync(configPath, base);
      expect((await reload()).status).toBe(200);
    });
  }

  it('a config path that became a FIFO or /dev/zero is refused without reading it (a read would block or never end)', async () => {
    for (const make of [(f: string) => execFileSync('mkfifo', [f]), (f: string) => symlinkSync('/dev/zero', f)]) {
      rmSync(configPath);
      make(configPath);
      const r = await reload();
      expect(r.status, JSON.stringify(r.json)).toBe(422);
      expect(JSON.stringify(r.json.errors)).toMatch(/not a regular file/);
      expect(await serves()).toBe(200);
      rmSync(configPath);
      writeFileSync(configPath, base);
    }
    expect((await reload()).status).toBe(200);
  });

  it('POST /policy with an alias bomb answers 422, not 500', async () => {
    const r = await fetch(`${proxy.adminUrl}/policy`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/yaml' }, body: aliasBomb(),
    });
    const body = await r.text();
    expect(r.status, body).toBe(422);
    expect(body).toMatch(/alias/i);
    expect(await serves()).toBe(200);
  });
});
