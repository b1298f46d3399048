// serve --watch's watcher on a real filesystem: a change to a watched file calls back once per burst,
// not while a process holds the file open for writing, and a watched directory removed and made again
// (a TLS folder replaced whole) is watched again.
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { watchConfig } from '../../../node/config/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

let stop: (() => void) | null = null;
afterEach(() => { stop?.(); stop = null; });

describe('watchConfig', () => {
  it('a listener TLS file written in its own folder calls back', async () => {
    const root = tempDir();
    const tls = join(root, 'tls');
    mkdirSync(tls);
    writeFileSync(join(root, 'portcullis.yaml'), 'a: 1\n');
    writeFileSync(join(tls, 'cert.pem'), 'old');
    let calls = 0;
    stop = watchConfig(join(root, 'portcullis.yaml'), () => { calls++; }, [join(tls, 'cert.pem')]);
    writeFileSync(join(tls, 'other.txt'), 'not ours');
    writeFileSync(join(tls, 'cert.pem'), 'new');
    await waitFor('the callback', () => calls === 1);
  });

  // before: the removal ended inotify's watch for good; a renewal written into the folder made again was never
  // seen (no reload until SIGHUP or a restart)
  it('a watched folder removed and made again is watched again: the renewal written into it calls back', async () => {
    const root = tempDir();
    const tls = join(root, 'tls');
    mkdirSync(tls);
    writeFileSync(join(root, 'portcullis.yaml'), 'a: 1\n');
    writeFileSync(join(tls, 'cert.pem'), 'old');
    let calls = 0;
    stop = watchConfig(join(root, 'portcullis.yaml'), () => { calls++; }, [join(tls, 'cert.pem')]);
    rmSync(tls, { recursive: true });
    mkdirSync(tls);
    writeFileSync(join(tls, 'cert.pem'), 'renewed');
    await waitFor('the callback after the folder came back', () => calls >= 1);
    const after = calls;
    writeFileSync(join(tls, 'cert.pem'), 'renewed again');
    await waitFor('a callback for a later change in the folder made again', () => calls > after);
    expect(calls).toBeGreaterThan(after);
  });

  // before: a writer pausing past the debounce got its prefix reloaded
  it('no callback while the file is held open for writing: onHeld once, then one callback after it is closed', async () => {
    const file = join(tempDir(), 'portcullis.yaml');
    writeFileSync(file, 'a: 1\n');
    let calls = 0;
    const held: number[] = [];
    stop = watchConfig(file, () => { calls++; }, [], (w) => { held.push(w.pid); });
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, 'a: ');
      await waitFor('onHeld', () => held.length === 1);
      expect(held).toEqual([process.pid]);
      expect(calls).toBe(0);
      writeSync(fd, '2\n');
    } finally { closeSync(fd); }
    await waitFor('the callback once the writer closed it', () => calls === 1);
    expect(held).toHaveLength(1);
  });
});
