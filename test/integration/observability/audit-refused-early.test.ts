// Admin calls refused before their handler runs — a method the endpoint does not take (405), a
// body over the admin API's 1 MiB (413), a body that is not UTF-8 (400) — are attempts the audit
// trail records like the handlers' own refusals: action, the caller's token fingerprint, outcome
// `refused` and the status, never the body.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const fp = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

let echo: EchoUpstream;
let proxy: ProxyProcess;
let file: string;

beforeAll(async () => {
  echo = await startEchoUpstream();
  file = join(tempDir('portcullis-audit-early-'), 'audit.log');
  proxy = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } }));
});
afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const records = (): Array<Record<string, any>> => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>) : []);

async function admin(method: 'POST' | 'DELETE', path: string, body?: Buffer): Promise<number> {
  const r = await request(`${proxy.adminUrl}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }),
  });
  await r.body.dump();
  return r.statusCode;
}

describe('admin calls refused before their handler', () => {
  it('are each one audit record with who, what and the status', async () => {
    expect(await admin('POST', '/revocations', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toBe(400);
    const big = Buffer.alloc(1024 * 1024 + 4096, 0x61);
    expect(await admin('POST', '/revocations', big)).toBe(413);
    expect(await admin('DELETE', '/revocations')).toBe(405);
    await waitFor('records().length >= 3', () => records().length >= 3, 5_000, { detail: () => JSON.stringify(records()) });
    const got = records().map((r) => ({ action: r.action, outcome: r.outcome, status: r.status, actor: r.actor.kind, token: r.actor.token }));
    expect(got).toEqual([
      { action: 'revocation.add', outcome: 'refused', status: 400, actor: 'admin_token', token: fp(ADMIN_TOKEN) },
      { action: 'revocation.add', outcome: 'refused', status: 413, actor: 'admin_token', token: fp(ADMIN_TOKEN) },
      { action: 'admin DELETE /revocations', outcome: 'refused', status: 405, actor: 'admin_token', token: fp(ADMIN_TOKEN) },
    ]);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain('aaaaaaaaaaaaaaaa');
  });
});
