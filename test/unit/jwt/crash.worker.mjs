// Test-only piscina worker: wraps the compiled verify worker and kills its thread when
// a task's (unverified) payload asks for it: crash: 'always', or once per crash_marker file;
// spin: 'always' keeps its thread busy for ever instead (a verification that never finishes).
import { existsSync, writeFileSync } from 'node:fs';
import verifyBatch from '../../../dist/node/jwt/verify.worker.js';

export default function crashingVerify(batch) {
  for (const task of batch.tasks) {
    let payload = {};
    try { payload = JSON.parse(Buffer.from(task.token.split('.')[1], 'base64url').toString()); } catch { /* not a JWT */ }
    if (payload.crash === 'always') process.exit(1);
    if (payload.spin === 'always') for (let spins = 0; ; spins++) if (spins < 0) return [];
    if (typeof payload.crash_marker === 'string' && !existsSync(payload.crash_marker)) {
      writeFileSync(payload.crash_marker, 'crashed');
      process.exit(1);
    }
  }
  return verifyBatch(batch);
}
