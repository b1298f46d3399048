// An audit trail that cannot be written — here the file size limit (RLIMIT_FSIZE set on the
// running proxy with prlimit, so its next append fails with EFBIG like a full disk) — never stops
// an admin action or a request, and every line it loses is counted in /metrics
// (`portcullis_audit_lines_lost_total`), by the single process and by the primary of `--workers`.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { call, metrics, sample, waitReady } from '../auth/tokens-helpers.js';
import { waitFor } from '../../helpers/wait.js';

let echo: EchoUpstream;

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** Cap the file size `pid` may write at `bytes` (util-linux prlimit). */
function capFileSize(pid: number, bytes: number): void {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--fsize=${bytes}:${bytes}`]);
  } catch (err) {
    throw new Error(`this test needs util-linux "prlimit" able to set RLIMIT_FSIZE of its own child: ${(err as Error).message}`);
  }
}

const reload = async (p: ProxyProcess): Promise<number> =>
  (await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status;

for (const workers of [0, 2]) {
  describe(workers === 0 ? 'audit write failure, one process' : `audit write failure, --workers ${workers}`, () => {
    let proxy: ProxyProcess;
    let file: string;

    beforeAll(async () => {
      file = join(tempDir('portcullis-audit-fail-'), 'audit.log');
      proxy = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } }), workers === 0 ? {} : { args: ['--workers', String(workers)] });
      await waitReady(proxy);
    });
    afterAll(async () => { await proxy?.stop(); });

    it('keeps serving and answering admin calls, and counts the lost lines', async () => {
      expect(await reload(proxy)).toBe(200);
      await waitFor('readFileSync(file, \'utf8\').includes(\'"config.reload"\')', () => readFileSync(file, 'utf8').includes('"config.reload"'), 5_000);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_audit_lines_lost_total')).toBe(0);

      const size = statSync(file).size;
      capFileSize(proxy.proc.pid!, size);
      expect(await reload(proxy)).toBe(200);
      expect(await reload(proxy)).toBe(200);
      expect((await call(`${proxy.url}/after`)).status).toBe(200);
      expect(statSync(file).size, 'nothing more could be appended').toBe(size);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_audit_lines_lost_total')).toBe(2);
      // the log line reaches the test asynchronously (a worker's or the primary's pipe), after the metric: waited for
      await waitFor('the write failure logged', () => proxy.output().includes('audit trail write failed (EFBIG)'), 5_000, { detail: () => proxy.output().slice(-2000) });
      expect(proxy.output()).toContain('audit trail write failed (EFBIG)');
      expect(proxy.proc.exitCode).toBeNull();
    });
  });
}
