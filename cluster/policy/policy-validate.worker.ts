// Worker thread entry: decodes and validates policy versions (policy-validate.ts) off the event
// loop, one message `{ id, localRaw, payload }` at a time, each answered `{ id, result }` —
// a large config's routes first, `{ id, routes }` per slice, so that the event loop reads them
// in several turns instead of one long one (messages on a port arrive in order).
import { parentPort } from 'node:worker_threads';
import { checkVersion, TRANSFER_SLICE } from './policy-validate.js';

parentPort?.on('message', (m: { id: number; localRaw: unknown; payload: Uint8Array }) => {
  const result = checkVersion(m.localRaw, m.payload, process.env);
  if (result.kind !== 'entry' || !result.verdict.ok || result.verdict.config.routes.length <= TRANSFER_SLICE) {
    parentPort!.postMessage({ id: m.id, result });
    return;
  }
  const config = result.verdict.config;
  for (let i = 0; i < config.routes.length; i += TRANSFER_SLICE) parentPort!.postMessage({ id: m.id, routes: config.routes.slice(i, i + TRANSFER_SLICE) });
  parentPort!.postMessage({ id: m.id, result: { ...result, verdict: { ok: true, config: { ...config, routes: [] } } }, sliced: true });
});
