// `portcullis revoke --admin URL` when what answers there redirects: the admin API never does,
// so a redirect means the URL is wrong. The revocation must not be re-sent to the redirect's
// target, and the command must not report as done a revocation the admin API never applied.
// Also an admin URL where nothing listens: exit 1 saying why (the bare "fetch failed" did not).
import { describe, it, expect, afterAll } from 'vitest';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import { runCli } from '../../helpers/proxy-process.js';
import { deadPort } from '../../helpers/upstreams.js';

const servers: Server[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))); });

function listen(handler: (req: IncomingMessage, body: string) => { status: number; headers?: Record<string, string>; body?: string }): Promise<string> {
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => { const a = handler(req, body); res.writeHead(a.status, a.headers ?? {}); res.end(a.body ?? ''); });
  });
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));
}

describe('portcullis revoke --admin URL that redirects', () => {
  it.each([301, 302, 303, 307, 308])('%i: not followed, exit 1 naming the redirect, nothing reaches its target', async (status) => {
    const reached: string[] = [];
    // the target answers like an admin API that applied it: following the redirect made the CLI say "revoked"
    const target = await listen((req, body) => {
      reached.push(`${req.method} ${req.url} ${body}`);
      return { status: 201, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ revocation: { kind: 'jti', value: 'abc', id: 'not-applied' } }) };
    });
    const admin = await listen(() => ({ status, headers: { location: `${target}/revocations` } }));
    const r = await runCli(['revoke', '--jti', 'abc', '--admin', admin], { PORTCULLIS_ADMIN_TOKEN: 'redirect-test-admin-token' });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('revoked');
    expect(r.stderr).toContain(`admin API answered ${status}`);
    expect(r.stderr).toContain('redirect');
    expect(reached).toEqual([]);
  });
});

describe('portcullis revoke --admin URL where nothing listens', () => {
  it('exit 1 naming the URL and the cause', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const r = await runCli(['revoke', '--jti', 'abc', '--admin', url], { PORTCULLIS_ADMIN_TOKEN: 'redirect-test-admin-token' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the admin API at ${url}/revocations`);
    // the reason after fetch's bare "fetch failed": ECONNREFUSED, or "bad port" for the ports fetch blocks
    expect(r.stderr).toMatch(/fetch failed \((ECONNREFUSED|bad port)\)/);
  });
});

describe('portcullis revoke --admin URL carrying user:password, a query or a fragment', () => {
  // the query and fragment cases: before, exit 1 "cannot reach the admin API at http://…?api_key=s3cr3t-pw/revocations"
  it.each(['http://ops:s3cr3t-pw@127.0.0.1:9', 'http://ops:s3cr3t-pw@[::1', 'not a url s3cr3t-pw', 'http://127.0.0.1:9/?api_key=s3cr3t-pw', 'http://127.0.0.1:9/#s3cr3t-pw'])('%s: exit 2 without printing the password, nothing sent', async (url) => {
    const r = await runCli(['revoke', '--jti', 'abc', '--admin', url], { PORTCULLIS_ADMIN_TOKEN: 'redirect-test-admin-token' });
    expect(r.code).toBe(2);
    expect(`${r.stdout}${r.stderr}`).not.toContain('s3cr3t-pw');
    expect(r.stderr).toMatch(/--admin/);
  });
});
