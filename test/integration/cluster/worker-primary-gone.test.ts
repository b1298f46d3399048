// A `--workers` worker whose primary dies (SIGKILL, OOM kill) while the worker is about to send to it —
// its status every 500 ms, admin answers, reload replies, revocation asks — leaves through its
// 'disconnect' handling. Regression: a send made after the channel broke but before the worker had read
// its end failed with EPIPE, which Node raised as an unhandled 'error' event: the worker crashed with a
// stack trace (seen at a multi-host teardown). Here the worker is kept busy while its primary dies, then
// sends before its loop turns, the moment the race needs.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp-dirs.js';

const sendModule = pathToFileURL(resolve('dist/cluster/transport/primary-send.js')).href;

describe('a worker whose primary dies before it sends', () => {
  it('leaves through its disconnect handling, without an unhandled EPIPE', async () => {
    const dir = tempDir('primary-gone-');
    const child = join(dir, 'child.mjs');
    const parent = join(dir, 'parent.cjs');
    writeFileSync(child, [
      `import { toPrimary } from ${JSON.stringify(sendModule)};`,
      `process.on('message', (m) => {`,
      `  if (m !== 'block') return;`,
      `  const until = Date.now() + 400; while (Date.now() < until) {} // the primary dies meanwhile`,
      `  toPrimary({ type: 'worker.status', ready: true });`,
      `});`,
      `process.on('disconnect', () => setTimeout(() => { process.stderr.write('left through disconnect\\n'); process.exit(0); }, 20));`,
      `toPrimary('ready');`,
    ].join('\n'));
    writeFileSync(parent, [
      `const { fork } = require('node:child_process');`,
      `const c = fork(${JSON.stringify(child)}, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });`,
      `c.on('message', (m) => { if (m === 'ready') { c.send('block'); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50); } });`,
    ].join('\n'));
    const p = spawn(process.execPath, [parent], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    // the worker holds the dead primary's stdout/stderr pipes: they close once it has exited too
    await new Promise<void>((done) => p.stderr.on('close', () => done()));
    expect(out).not.toMatch(/EPIPE|Unhandled 'error' event|ERR_IPC_CHANNEL_CLOSED/);
    expect(out).toContain('left through disconnect');
  });
});
