// Lines written after the stdout reader died are counted one per line, however they were handed
// over: the audit trail hands the process log a batch of records in one write (AuditLog's queued
// records, node/audit/audit-log.ts), and portcullis_audit_lines_lost_total is what that count moved by.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

// The process logger, its reader gone: one line to meet EPIPE, then a 3-line batch through lineSink and one more line
const CHILD = `import { createLogger, lineSink, logLinesDropped } from ${JSON.stringify(join(ROOT, 'dist', 'node', 'log.js'))};
const log = createLogger({ level: 'info', format: 'json' });
log.info('first');
setTimeout(() => {
  const before = logLinesDropped();
  lineSink(log).write('{"audit":1}\\n{"audit":2}\\n{"audit":3}\\n');
  log.info('last');
  process.stderr.write(JSON.stringify({ before, after: logLinesDropped() }) + '\\n');
  process.exit(0);
}, 300);`;

describe('stdout reader gone', () => {
  it('a batch of 3 lines and a line written after EPIPE count 4 dropped lines', async () => {
    const child = join(tempDir('portcullis-log-dead-'), 'child.mjs');
    writeFileSync(child, CHILD);
    const p = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.destroy(); // the reader dies before the first line
    let err = '';
    p.stderr!.on('data', (d) => { err += d; });
    await new Promise((resolve) => p.once('close', resolve)); // not 'exit': the stderr line read next can arrive after it
    const { before, after } = JSON.parse(err.trim().split('\n').pop()!) as { before: number; after: number };
    expect(before).toBeGreaterThanOrEqual(1); // 'first' met the dead reader
    expect(after - before).toBe(4);
  });
});
