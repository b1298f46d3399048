// openWriter on this host's /proc: a file held open for writing (truncated, or read-write) is found with
// the holder's pid, through a symlink too; one held read-only, closed, or missing is not.
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWriter } from '../../../node/config/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const fds: number[] = [];
afterEach(() => { for (const fd of fds.splice(0)) closeSync(fd); });
const hold = (file: string, flags: string): void => { fds.push(openSync(file, flags)); };

describe('openWriter', () => {
  it('finds a file open for writing (w, r+, a) with the pid holding it', async () => {
    for (const flags of ['w', 'r+', 'a']) {
      const file = join(tempDir(), 'portcullis.yaml');
      writeFileSync(file, 'a: 1\n');
      hold(file, flags);
      expect(await openWriter([join(tempDir(), 'other.yaml'), file])).toEqual({ file, pid: process.pid });
    }
  });

  it('finds it through a symlink to it (a ConfigMap mount), naming the path as given', async () => {
    const dir = tempDir();
    const real = join(dir, 'real.yaml');
    writeFileSync(real, 'a: 1\n');
    const link = join(dir, 'portcullis.yaml');
    symlinkSync(real, link);
    hold(real, 'r+');
    expect(await openWriter([link])).toEqual({ file: link, pid: process.pid });
  });

  it('is null for a file held read-only, closed after writing, or missing', async () => {
    const file = join(tempDir(), 'portcullis.yaml');
    writeFileSync(file, 'a: 1\n'); // opened, written and closed
    hold(file, 'r');
    expect(await openWriter([file, join(tempDir(), 'missing.yaml')])).toBeNull();
  });
});
