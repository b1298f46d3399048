// Worker thread entry: decodes and validates policy versions (policy-validate.ts) off the event
// loop, one message `{ id, localRaw, payload }` at a time, each answered `{ id, result }`.
import { parentPort } from 'node:worker_threads';
import { checkVersion } from './policy-validate.js';

parentPort?.on('message', (m: { id: number; localRaw: unknown; payload: Uint8Array }) => {
  parentPort!.postMessage({ id: m.id, result: checkVersion(m.localRaw, m.payload, process.env) });
});
