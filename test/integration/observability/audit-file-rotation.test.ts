// log.audit.file under the operating system's hands: moved away by a log rotation (logrotate without
// copytruncate) or removed while the proxy runs — the next record lands in a new file at the path and
// the reopen is counted — and a write cut part way by a full disk (RLIMIT_FSIZE set with prlimit: the
// same short write a full filesystem gives), which must not leave half a line for the next record.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, readFileSync, renameSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { metrics, sample, waitReady } from '../auth/tokens-helpers.js';

let echo: EchoUpstream;

beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

/** Set the soft file size limit of `pid` (util-linux prlimit; the hard one stays): `unlimited` lifts it again. */
function fileSizeLimit(pid: number, limit: number | 'unlimited'): void {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--fsize=${limit}:`]);
  } catch (err) {
    throw new Error(`this test needs util-linux "prlimit" able to set RLIMIT_FSIZE of its own child: ${(err as Error).message}`);
  }
}

const reload = async (p: ProxyProcess): Promise<number> =>
  (await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status;

/** The `config.reload` records of an audit file; throws naming the line that is no JSON. */
function reloadRecords(file: string): Array<Record<string, unknown>> {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
  return lines.map((l, i) => {
    try { return JSON.parse(l) as Record<string, unknown>; } catch { throw new Error(`line ${i + 1} of ${file} is not JSON: ${l.slice(0, 120)}…`); }
  }).filter((r) => r.action === 'config.reload');
}

const afterVersion = (r: Record<string, unknown>): unknown => (r.after as { config_version?: unknown } | undefined)?.config_version;

for (const workers of [0, 2]) {
  describe(workers === 0 ? 'audit file rotation, one process' : `audit file rotation, --workers ${workers}`, () => {
    let proxy: ProxyProcess | undefined;
    let file: string;
    let version: number;

    // a proxy and an audit file per case: each case fails on its own defect, not on the other's leftovers
    beforeEach(async () => {
      file = join(tempDir('portcullis-audit-rotate-'), 'audit.log');
      version = 1;
      proxy = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } }), workers === 0 ? {} : { args: ['--workers', String(workers)] });
      await waitReady(proxy);
    });
    afterEach(async () => { await proxy?.stop(); proxy = undefined; });
    const started = (): ProxyProcess => { if (proxy === undefined) throw new Error('the proxy did not start'); return proxy; };

    it('leaves no half record behind a write the disk cut short', async () => {
      const proxy = started();
      expect(await reload(proxy)).toBe(200);
      version++;
      const size = statSync(file).size;
      fileSizeLimit(proxy.proc.pid!, size + 100); // a record is ~300 bytes: its first 100 fit
      expect(await reload(proxy)).toBe(200);
      version++;
      const lost = version;
      fileSizeLimit(proxy.proc.pid!, 'unlimited');
      expect(await reload(proxy)).toBe(200);
      version++;
      const versions = reloadRecords(file).map(afterVersion);
      expect(versions, 'the record after the cut one reads whole').toContain(version);
      expect(versions).not.toContain(lost);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_audit_lines_lost_total')).toBe(1);
      expect(proxy.proc.exitCode).toBeNull();
    });

    it('writes the next record to a new file at the path after the file was moved away, then removed', async () => {
      const proxy = started();
      expect(await reload(proxy)).toBe(200);
      version++;
      const before = reloadRecords(file).map(afterVersion);
      renameSync(file, `${file}.1`);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(existsSync(file), 'a record after the rotation is written at the configured path').toBe(true);
      expect(reloadRecords(file).map(afterVersion)).toEqual([version]);
      expect(reloadRecords(`${file}.1`).map(afterVersion), 'the rotated file is left as it was').toEqual(before);
      expect(statSync(file).mode & 0o777).toBe(0o600);

      unlinkSync(file);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(reloadRecords(file).map(afterVersion), 'a record after the removal is in a new file').toEqual([version]);

      const m = await metrics(proxy, ADMIN_TOKEN);
      expect(sample(m, 'portcullis_audit_file_reopened_total')).toBe(2);
      expect(sample(m, 'portcullis_audit_lines_lost_total')).toBe(0);
    });

    it('never writes through a symlink planted at the path after a rotation, nor changes the mode of what it names', async () => {
      const proxy = started();
      // another file the proxy's user may write: someone who can write the log directory points the path at it
      const victim = join(tempDir('portcullis-audit-victim-'), 'victim.conf');
      writeFileSync(victim, 'keep me\n');
      chmodSync(victim, 0o644);
      renameSync(file, `${file}.1`);
      symlinkSync(victim, file);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(readFileSync(victim, 'utf8'), 'no record appended to the symlink\'s target').toBe('keep me\n');
      expect(statSync(victim).mode & 0o777, 'the target\'s mode is left alone').toBe(0o644);
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_audit_lines_lost_total'), 'the refused record is counted lost').toBe(1);

      unlinkSync(file);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(reloadRecords(file).map(afterVersion), 'with the symlink gone the next record is in a new file').toEqual([version]);
      expect(proxy.proc.exitCode).toBeNull();
    });

    it('never writes into a hard link or a FIFO planted at the path after a rotation, and does not wait on the FIFO', async () => {
      const proxy = started();
      // a hard link to another file of the proxy's user (one inode, two names): before, appended to and chmod 0600
      const victim = join(tempDir('portcullis-audit-victim-'), 'victim.conf');
      writeFileSync(victim, 'keep me\n');
      chmodSync(victim, 0o644);
      renameSync(file, `${file}.1`);
      linkSync(victim, file);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(readFileSync(victim, 'utf8'), 'no record appended to the hard link\'s file').toBe('keep me\n');
      expect(statSync(victim).mode & 0o777, 'its mode is left alone').toBe(0o644);

      // a FIFO nobody reads: opened for writing without O_NONBLOCK, the open waits for a reader — the process stalls
      unlinkSync(file);
      execFileSync('mkfifo', ['-m', '0600', file]);
      expect(await reload(proxy), 'answered: the FIFO held nothing up').toBe(200);
      version++;
      expect(sample(await metrics(proxy, ADMIN_TOKEN), 'portcullis_audit_lines_lost_total'), 'both refused records are counted lost').toBe(2);

      unlinkSync(file);
      expect(await reload(proxy)).toBe(200);
      version++;
      expect(reloadRecords(file).map(afterVersion), 'with them gone the next record is in a new file').toEqual([version]);
      expect(proxy.proc.exitCode).toBeNull();
    });
  });
}
