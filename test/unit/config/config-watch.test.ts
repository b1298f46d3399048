// serve --watch's watcher on a real filesystem: a change to a watched file calls back once per burst,
// and a watched directory removed and made again (a TLS folder replaced whole) is watched again.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
});
