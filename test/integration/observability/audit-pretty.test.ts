// `log.format: pretty` with the audit trail on standard output: the process log is pino-pretty's text,
// the audit records stay one JSON object per line (before, pino-pretty turned them into indented text
// no audit reader parses), with U+2028/U+2029 in a record escaped so line splitters keep it whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, CLI, baseConfig, writeConfig } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { reap } from '../../helpers/reaper.js';

let echo: EchoUpstream;
let proc: ChildProcess;
let out = '';
let adminUrl = '';

/** The JSON lines of the output (the audit records: the rest is pino-pretty's text). */
const jsonLines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  echo = await startEchoUpstream();
  const config = writeConfig(baseConfig(echo.url, { log: { level: 'info', format: 'pretty', access: false } }));
  proc = reap(spawn(process.execPath, [CLI, 'serve', '--config', config], { env: { ...process.env, ...ADMIN_ENV }, stdio: ['ignore', 'pipe', 'pipe'] }));
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  // pino-pretty writes the listening line's fields one per line: `    adminPort: 41234`
  await waitFor('the pretty listening line', () => /^\s+adminPort: \d+$/m.test(out) || proc.exitCode !== null, 30_000, { detail: () => out });
  adminUrl = `http://127.0.0.1:${/^\s+adminPort: (\d+)$/m.exec(out)![1]}`;
}, 40_000);

afterAll(async () => {
  if (proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  await echo?.close();
});

describe('audit trail beside a pretty process log', () => {
  it('audit records are JSON lines, escaped, while the process log stays pretty', async () => {
    expect(out).toMatch(/INFO \(portcullis\): listening/);
    expect((await fetch(`${adminUrl}/reload`, { method: 'POST' })).status).toBe(401);
    const revoke = await fetch(`${adminUrl}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'jti', value: 'jti\u2028pretty\u2029audit' }),
    });
    expect(revoke.status).toBe(201);
    const audit = (): Array<Record<string, unknown>> => jsonLines().filter((l) => l.audit === true);
    await waitFor('both audit records on stdout', () => audit().length >= 2, 5_000, { detail: () => out });
    expect(audit().map((r) => [r.name, r.action, r.outcome])).toEqual([
      ['portcullis-audit', 'config.reload', 'unauthorized'],
      ['portcullis-audit', 'revocation.add', 'ok'],
    ]);
    expect(JSON.stringify(audit()[1].detail)).toContain('"jti\u2028pretty\u2029audit"'); // the value, read back whole
    expect(out).not.toMatch(/[\u2028\u2029]/);
    expect(out).toContain('jti\\u2028pretty\\u2029audit');
    expect(out).not.toMatch(/INFO \(portcullis-audit\)/); // no record went through pino-pretty
  });
});
