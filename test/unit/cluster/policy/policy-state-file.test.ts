// The policy state file on disk: 0600 whatever a crashed earlier write left behind, and read back.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateFile, writeStateFile } from '../../../../cluster/policy/policy-state-file.js';
import { tempDir } from '../../../helpers/temp-dirs.js';

describe('policy state file', () => {
  it('is written 0600 even over a world-readable temp file an earlier crash left', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-state-'));
    const file = join(dir, 'policy.state');
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, 'half a file');
    chmodSync(tmp, 0o644);
    writeStateFile(file, 'PORTCULLIS_POLICY', Uint8Array.from([1, 2, 3]));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(tmp)).toBe(false);
    const back = readStateFile(file, 'PORTCULLIS_POLICY');
    expect(back.ok && Array.from(back.sealed)).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(file, 'utf8')).bucket).toBe('PORTCULLIS_POLICY');
  });

  it('names another bucket\'s file instead of applying it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-state-'));
    const file = join(dir, 'policy.state');
    writeStateFile(file, 'OTHER', Uint8Array.from([9]));
    const back = readStateFile(file, 'PORTCULLIS_POLICY');
    expect(back.ok).toBe(false);
    expect(!back.ok && back.problem).toContain('OTHER');
  });

  it('tells no file yet (a member that never applied a version) from a file that is there but unusable', () => {
    const dir = tempDir('pc-state-');
    const none = readStateFile(join(dir, 'policy.state'), 'PORTCULLIS_POLICY');
    expect(none.ok ? null : [none.missing, none.problem]).toEqual([true, expect.stringContaining('no state file yet')]);
    writeFileSync(join(dir, 'policy.state'), 'not json');
    const corrupt = readStateFile(join(dir, 'policy.state'), 'PORTCULLIS_POLICY');
    expect(corrupt.ok ? null : corrupt.missing).toBe(false);
  });

  it('a write that fails leaves no temp file with the sealed version behind, and the path as it was', () => {
    const dir = tempDir('pc-state-');
    const file = join(dir, 'policy.state');
    mkdirSync(file); // the rename onto it fails (EISDIR) after the bytes were written
    expect(() => writeStateFile(file, 'PORTCULLIS_POLICY', Uint8Array.from([1, 2, 3]))).toThrow();
    expect(readdirSync(dir)).toEqual(['policy.state']);
    expect(statSync(file).isDirectory()).toBe(true);
  });
});
