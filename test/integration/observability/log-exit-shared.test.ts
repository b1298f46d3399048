// The exit flush of processes sharing one stdout pipe (`serve --workers N`: the workers and the
// primary exit together at a stop): the lines still queued at exit go out in whole lines of at most
// PIPE_BUF bytes per write(2), as while running, so no process's line lands inside another's.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const PROCESSES = 3;
const pause = new Int32Array(new SharedArrayBuffer(4));
const LINES = 150;

// The process logger of a worker (createLogger, sharedStdout): ~3.1 KB lines queued behind a full pipe, then exit
const CHILD = `import { createLogger } from ${JSON.stringify(join(ROOT, 'dist', 'node', 'log.js'))};
const log = createLogger({ level: 'info', format: 'json', sharedStdout: true, name: process.argv[2] });
const pad = 'x'.repeat(3000);
for (let i = 0; i < ${LINES}; i++) log.info({ i, pad }, 'queued');
process.exit(0);`;

describe('exit flush into a shared pipe', () => {
  it('processes exiting together with lines queued: every line arrives whole', async () => {
    const dir = tempDir('portcullis-log-exit-');
    const child = join(dir, 'child.mjs');
    writeFileSync(child, CHILD);
    // a real pipe (spawn's 'pipe' is a socket pair): a FIFO, not read until every process is exiting
    const fifo = join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const fd = openSync(fifo, 'w');
    const procs = Array.from({ length: PROCESSES }, (_, i) => spawn(process.execPath, [child, `p${i}`], { stdio: ['ignore', fd, 'inherit'] }));
    closeSync(fd);
    const exited = Promise.all(procs.map((p) => new Promise((resolve) => p.once('exit', resolve))));
    await new Promise((r) => setTimeout(r, 300));
    // every process is in its exit flush with the pipe full: then the reader takes a page at a time
    // (a slow shipper), so each freed page goes to whichever process writes first
    const chunks: Buffer[] = [];
    const page = Buffer.alloc(4096);
    for (;;) {
      let n: number;
      try { n = readSync(rfd, page, 0, page.length, null); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (n === 0) break; // every writer gone
      chunks.push(Buffer.from(page.subarray(0, n)));
      Atomics.wait(pause, 0, 0, 1);
    }
    closeSync(rfd);
    await exited;
    const out = Buffer.concat(chunks).toString();
    const lines = out.split('\n').filter((l) => l !== '');
    const cut = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    expect(cut.map((l) => `${l.slice(0, 60)}…${l.slice(-60)}`)).toEqual([]);
    expect(lines).toHaveLength(PROCESSES * LINES);
  });
});
