// AuditLog after close(): a record still comes (a late admin action at shutdown) and is appended by path —
// to the same file when the path still names it, never through a symlink planted there since.
import { describe, it, expect } from 'vitest';
import { chmodSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, appliedRevocationRecord } from '../../../node/audit/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const applied = (id: string): ReturnType<typeof appliedRevocationRecord> => appliedRevocationRecord({
  id, kind: 'jti', value: `jti-${id}`, issuer: null, before: null, reason: null, expiresAt: 2_000_000_000, createdAt: 1_700_000_000_000, origin: 'member-a',
});
const ids = (file: string): unknown[] =>
  readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { detail: { id: unknown } }).detail.id);

describe('AuditLog after close()', () => {
  it('appends a late record to the file it had open', () => {
    const file = join(tempDir('portcullis-audit-late-'), 'audit.log');
    const log = AuditLog.open({ file }, { write: () => true });
    log.record(applied('a1'));
    log.close();
    log.record(applied('a2'));
    expect(ids(file)).toEqual(['a1', 'a2']);
    expect(log.stats()['audit.lines_lost']).toBe(0);
  });

  it('never writes a late record through a symlink planted at the path, nor changes what it names', () => {
    const file = join(tempDir('portcullis-audit-late-'), 'audit.log');
    const victim = join(tempDir('portcullis-audit-victim-'), 'victim.conf');
    writeFileSync(victim, 'keep me\n');
    chmodSync(victim, 0o644);
    const log = AuditLog.open({ file }, { write: () => true });
    log.record(applied('b1'));
    log.close();
    renameSync(file, `${file}.1`);
    symlinkSync(victim, file);
    log.record(applied('b2'));
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(log.stats()['audit.lines_lost']).toBe(1);
    expect(ids(`${file}.1`)).toEqual(['b1']);
  });
});
