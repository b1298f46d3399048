// serve --watch's watcher on a real filesystem: a change to a watched file calls back once per burst,
// not while a process holds the file open for writing, and a watched directory removed and made again
// (a TLS folder replaced whole) is watched again. A wait for a writer that never closes is logged again at an
// interval, shown (WatchHold) and ended by an applied POST /reload.
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { watchConfig } from '../../../node/config/index.js';
import { WatchHold } from '../../../node/config/watch-hold.js';
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
    stop = watchConfig(file, () => { calls++; }, [], { onHeld: (w) => { held.push(w.pid); }, hold: new WatchHold() });
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

  // before: one warning per hold, then silence however long the writer kept the file (a stuck editor, a
  // read-write handle held for good): reloads stopped without a further word and nothing showed the wait
  it('a writer that never closes: still no callback, warned again every warnEveryMs with how long, the wait shown in the hold', async () => {
    const file = join(tempDir(), 'portcullis.yaml');
    writeFileSync(file, 'a: 1\n');
    let calls = 0;
    const warned: Array<{ pid: number; waitedMs: number }> = [];
    const hold = new WatchHold();
    stop = watchConfig(file, () => { calls++; }, [], { onHeld: (w, waitedMs) => { warned.push({ pid: w.pid, waitedMs }); }, warnEveryMs: 600, hold });
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, 'a: 2\n');
      await waitFor('three warnings', () => warned.length >= 3, 15_000);
      expect(calls).toBe(0);
      expect(warned.map((w) => w.pid)).toEqual(warned.map(() => process.pid));
      expect(warned[0]!.waitedMs).toBe(0);
      expect(warned[2]!.waitedMs).toBeGreaterThan(warned[1]!.waitedMs);
      expect(hold.wait).toMatchObject({ file, pid: process.pid });
      expect(hold.values()['config.reload_waiting_seconds']).toBeGreaterThan(0);
    } finally { closeSync(fd); }
    await waitFor('the callback once the writer closed it', () => calls === 1);
    expect(hold.wait).toBeNull();
    expect(hold.values()['config.reload_waiting_seconds']).toBe(0);
  });

  it('an operator\'s reload applied after the change ends the wait (no callback: that file runs); a later change waits again', async () => {
    const file = join(tempDir(), 'portcullis.yaml');
    writeFileSync(file, 'a: 1\n');
    let calls = 0;
    let warned = 0;
    const hold = new WatchHold();
    stop = watchConfig(file, () => { calls++; }, [], { onHeld: () => { warned++; }, hold });
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, 'a: 2\n');
      await waitFor('the wait', () => hold.wait !== null);
      hold.operatorApplied(performance.now());
      await waitFor('the wait ended', () => hold.wait === null);
      expect(calls).toBe(0);
      writeSync(fd, 'a: 3\n');
      await waitFor('a new wait for the later change', () => hold.wait !== null && warned === 2);
      expect(calls).toBe(0);
    } finally { closeSync(fd); }
    await waitFor('the callback once the writer closed it', () => calls === 1);
  });
});
