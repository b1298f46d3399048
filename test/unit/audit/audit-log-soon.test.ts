// AuditLog.recordSoon: records of remote revocation applies are written in a batch within
// 50 ms, in order, never lost at a clean close (close writes what is still queued).
import { describe, it, expect } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, appliedRevocationRecord } from '../../../node/audit/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const applied = (id: string): ReturnType<typeof appliedRevocationRecord> => appliedRevocationRecord({
  id, kind: 'jti', value: `jti-${id}`, issuer: null, before: null, reason: null, expiresAt: 2_000_000_000, createdAt: 1_700_000_000_000, origin: 'member-a',
});
const lines = (file: string): Array<Record<string, any>> =>
  readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('AuditLog.recordSoon', () => {
  it('writes queued records in order shortly after, not in the caller\'s turn', async () => {
    const file = join(tempDir('portcullis-audit-soon-'), 'audit.log');
    const log = AuditLog.open({ file }, { write: () => true });
    for (const id of ['r1', 'r2', 'r3']) log.recordSoon(applied(id));
    await sleep(10);
    expect(lines(file)).toEqual([]); // held: the requests of this moment go first
    await sleep(300);
    expect(lines(file).map((r) => r.detail.id)).toEqual(['r1', 'r2', 'r3']);
    expect(lines(file).every((r) => r.action === 'revocation.applied' && r.actor.origin === 'member-a')).toBe(true);
    log.close();
  });

  it('writes what is still queued when closed', async () => {
    const file = join(tempDir('portcullis-audit-soon-'), 'audit.log');
    const log = AuditLog.open({ file }, { write: () => true });
    log.recordSoon(applied('q1'));
    log.recordSoon(applied('q2'));
    log.close();
    // the process exits 20 ms after close (run-instance); the write is asynchronous, the 50 ms batch timer is cancelled
    await sleep(20);
    expect(lines(file).map((r) => r.detail.id)).toEqual(['q1', 'q2']);
  });

  it('keeps every line in order across record, recordSoon and close, with nothing left for later (the file is complete when close returns)', () => {
    const file = join(tempDir('portcullis-audit-soon-'), 'audit.log');
    const log = AuditLog.open({ file }, { write: () => true });
    log.record(applied('a0'));
    for (let i = 1; i <= 200; i++) {
      if (i % 3 === 0) log.record(applied(`a${i}`)); else log.recordSoon(applied(`a${i}`));
    }
    log.close();
    log.record(applied('late')); // e.g. an admin call finishing during shutdown: appended, not lost
    const want = ['a0', ...Array.from({ length: 200 }, (_, i) => `a${i + 1}`), 'late'];
    expect(lines(file).map((r) => r.detail.id)).toEqual(want);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
