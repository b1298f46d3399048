// `npm start` = `portcullis dev`: every curl line it prints is run as printed (bash, with the
// printed TOKEN/OPAQUE exported), and the status each line promises in its comment is checked;
// Ctrl-C then stops it with its last line written.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/nats.js';
import { CLI, ROOT, runCli } from '../../helpers/proxy-process.js';

let proc: ChildProcess;
let out = '';

function bash(cmd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', cmd], { env: { ...process.env, ...env }, timeout: 10_000 }, (_err, stdout) => resolve(stdout));
  });
}

beforeAll(async () => {
  const port = await freePort();
  proc = spawn(process.execPath, [CLI, 'dev', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const deadline = Date.now() + 30_000;
  while (!out.includes('Ctrl-C stops everything.')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`dev mode did not print its lines:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 40_000);

afterAll(async () => {
  if (proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await exited;
  }
});

describe('dev mode (npm start)', () => {
  it('prints working curl lines: each answers the status its comment promises, in order', async () => {
    const env = {
      TOKEN: /export TOKEN=(\S+)/.exec(out)?.[1] ?? '',
      OPAQUE: /export OPAQUE=(\S+)/.exec(out)?.[1] ?? '',
    };
    expect(env.TOKEN).toMatch(/^ey/);
    expect(env.OPAQUE.length).toBeGreaterThan(20);
    const lines = out.split('\n').filter((l) => /^\s+curl /.test(l));
    expect(lines.filter((l) => /#\s*\d{3}/.test(l)).length).toBeGreaterThanOrEqual(9);
    const seen: string[] = [];
    for (const line of lines) {
      const want = /#\s*(\d{3})/.exec(line)?.[1];
      const cmd = line.replace(/\s+#.*$/, '').trim();
      if (want === undefined) { await bash(cmd, env); continue; } // e.g. the revocation itself
      const code = await bash(cmd.replace(/^curl -i /, 'curl -s -o /dev/null -w "%{http_code}" '), env);
      seen.push(`${code} (want ${want}): ${line.trim().slice(0, 90)}`);
    }
    for (const s of seen) expect(s.slice(0, 3), seen.join('\n')).toBe(s.slice(10, 13));
    // the revocation line must have run before the last check: it is printed between them
    expect(out).toMatch(/"kind":"sub","value":"alice"/);
  }, 60_000);

  it('the line promising a signature failure gets one (not "token malformed"): it shows the signature check', async () => {
    const env = { TOKEN: /export TOKEN=(\S+)/.exec(out)?.[1] ?? '' };
    const line = out.split('\n').find((l) => /^\s+curl .*# 401 invalid_token \(signature\)/.test(l));
    expect(line, 'a curl line commented "401 invalid_token (signature)"').toBeDefined();
    const cmd = line!.replace(/\s+#.*$/, '').trim().replace(/^curl -i /, 'curl -s -D - -o /dev/null ');
    const head = await bash(cmd, env);
    expect(head).toMatch(/^HTTP\/1\.1 401/);
    expect(head).toMatch(/error="invalid_token", error_description="token signature invalid"/);
  }, 20_000);
});

describe('deploy/README compose demo, on dev mode', () => {
  it('its token, call and revocation lines answer as commented, with the demo\'s ports mapped onto dev mode\'s', async () => {
    // dev mode runs the same demo authorization server and an orders:read route on /orders/*
    const text = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
    const at = text.indexOf('## Compose demo');
    const open = text.indexOf('```sh\n', at) + 6;
    const block = text.slice(open, text.indexOf('```', open));
    const [, proxy, admin, as] = /proxy (http:\/\/\S+)\s+admin (http:\/\/\S+)\s+authorization server (http:\/\/\S+)/.exec(out)!;
    const adminToken = /metrics -H "Authorization: Bearer (\S+)"/.exec(out)![1]!;
    const lines = block.replace(/\\\n\s*/g, ' ').split('\n'); // continuation lines joined
    const script = lines
      .filter((l) => !/^(deploy\/compose\/init-env\.sh|docker compose)/.test(l))
      .map((l) => l.startsWith('ADMIN_TOKEN=') ? `ADMIN_TOKEN='${adminToken}'` : l)
      .map((l) => l.replace(/jq -r \.access_token/, `node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token'`)
        .replace(/127\.0\.0\.1:9000/g, as!).replace(/127\.0\.0\.1:808[123]/g, proxy!).replace(/127\.0\.0\.1:9911/g, admin!))
      .map((l) => /^curl .*#\s*\d{3}/.test(l) ? `${l.replace(/\s+#.*$/, '').replace(/^curl /, 'curl -s -o /dev/null -w "%{http_code}\\n" ')}` : l)
      .join('\n');
    const statuses = (await bash(script, {})).trim().split('\n');
    const wanted = lines.flatMap((l) => /^curl .*#\s*(\d{3})/.exec(l)?.[1] ?? []);
    expect(wanted.length).toBeGreaterThanOrEqual(3);
    expect(statuses).toEqual(wanted);
  }, 30_000);

  it('Ctrl-C (SIGINT) stops everything and exits 0, its last line written', async () => {
    // 'close': the output is complete (the pipes are closed), not only the process gone
    const closed = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
    proc.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(out.trimEnd().split('\n').at(-1)).toMatch(/INFO \(portcullis\): stopped$/);
  });
});

describe('dev --port', () => {
  it('a busy port is an error naming the port, not a silent switch to another one', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await runCli(['dev', '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^portcullis: dev: port ${port} on 127\\.0\\.0\\.1 is already in use`));
      expect(r.stderr).toContain('--port');
      expect(r.stdout).not.toContain('Portcullis dev mode');
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it('a port that is not a port number is bad usage (exit 2)', async () => {
    const bad = ['http', '-1', '65536'];
    const outs = await Promise.all(bad.map((b) => runCli(['dev', `--port=${b}`])));
    for (const [i, r] of outs.entries()) {
      expect(r.code, bad[i]).toBe(2);
      expect(r.stderr, bad[i]).toMatch(/^portcullis: dev: --port: expected a port number 0–65535/);
    }
  });
});

