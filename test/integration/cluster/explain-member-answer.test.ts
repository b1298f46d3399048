// `portcullis explain --config FILE` with cluster policy prints the verdict of whatever answers at FILE's
// admin listener: an answer that is not a verdict (another program on that port, another version) is
// refused with exit 2, and what a member says is printed with its control characters escaped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_ENV, runCli, writeConfig } from '../../helpers/proxy-process.js';

let member: Server;
let answer: { status: number; body: string } = { status: 200, body: '{}' };
let file = '';

beforeAll(async () => {
  // a program at the admin port answering what each case sets (a real socket: the CLI's own fetch reads it)
  member = createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(answer.status, { 'content-type': 'application/json' }); res.end(answer.body); });
  });
  await new Promise<void>((resolve) => member.listen(0, '127.0.0.1', resolve));
  const port = (member.address() as AddressInfo).port;
  file = writeConfig({
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    cluster: { nats: { servers: ['nats://127.0.0.1:1'] }, auth: { mode: 'none' }, policy: { source: 'cluster' } },
  });
});

afterAll(() => { member.closeAllConnections(); member.close(); });

const VERDICT = { allowed: true, status: 200, route: 'api', upstream: 'app', params: null, token: null, rules: [], summary: 'route api: allowed, forwarded to app' };

describe('explain with cluster policy: what the member at the admin listener answers', () => {
  it('a 200 that is not a verdict: exit 2 saying so — before, {"allowed": true} crashed the printout (exit 1, read as DENIED) and --json printed it (exit 0)', async () => {
    answer = { status: 200, body: '{"allowed":true}' };
    for (const json of [[], ['--json']]) {
      const r = await runCli(['explain', '--config', file, ...json, 'GET', '/api/x'], ADMIN_ENV);
      expect([r.code, r.stdout], r.stderr).toEqual([2, '']);
      expect(r.stderr).toContain('answered 200 with something that is not a verdict');
      expect(r.stderr).not.toContain('Cannot read properties');
    }
  });

  it('a verdict is printed, its control characters escaped (a terminal never interprets what a member says)', async () => {
    answer = { status: 200, body: JSON.stringify({ ...VERDICT, summary: 'ok\u001b]0;owned\u0007' }) };
    const r = await runCli(['explain', '--config', file, 'GET', '/api/x'], ADMIN_ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verdict +ALLOWED \(200\): ok\\u001b\]0;owned\\u0007/);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    // --json keeps the member's strings as JSON escapes them
    const j = await runCli(['explain', '--config', file, '--json', 'GET', '/api/x'], ADMIN_ENV);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ...VERDICT, summary: 'ok\u001b]0;owned\u0007' });
    // a refusal's message too
    answer = { status: 401, body: JSON.stringify({ error: 'unauthorized', message: 'no\u001b[2J' }) };
    const no = await runCli(['explain', '--config', file, 'GET', '/api/x'], ADMIN_ENV);
    expect(no.code).toBe(2);
    expect(no.stderr).toContain('answered 401: no\\u001b[2J');
    expect(no.stderr).not.toContain('\u001b');
  });
});
