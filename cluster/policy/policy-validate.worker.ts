// Worker thread entry: decodes and validates policy versions (policy-validate.ts) off the event
// loop, one message `{ id, localRaw, payload }` at a time, each answered `{ id, result }` (or,
// with `warm`, the start version's check repeated and answered `{ id, warmed }`) —
// a large config's routes first, `{ id, routes }` per slice, so that the event loop reads them
// in several turns instead of one long one (messages on a port arrive in order).
import { parentPort } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { checkVersion, TRANSFER_SLICE, warmRounds } from './policy-validate.js';
import { MAX_POLICY_BYTES } from './policy-messages.js';

parentPort?.on('message', (m: { id: number; localRaw: unknown; payload: Uint8Array; warm?: { rounds: number; budgetMs: number } }) => {
  if (m.warm !== undefined) {
    // warmCheck: the start version's check again here in full, the result dropped (this thread's memos untouched)
    let text: string;
    try { text = gunzipSync(m.payload, { maxOutputLength: MAX_POLICY_BYTES }).toString('utf8'); } catch { parentPort!.postMessage({ id: m.id, warmed: 0 }); return; }
    // no pause between rounds: messages queue behind the warming, in order (the next version waits for it)
    void warmRounds(m.localRaw, text, m.warm.rounds, m.warm.budgetMs).catch(() => 0).then((done) => parentPort!.postMessage({ id: m.id, warmed: done }));
    return;
  }
  const result = checkVersion(m.localRaw, m.payload, process.env);
  if (result.kind !== 'entry' || !result.verdict.ok || result.verdict.config.routes.length <= TRANSFER_SLICE) {
    parentPort!.postMessage({ id: m.id, result });
    return;
  }
  const config = result.verdict.config;
  for (let i = 0; i < config.routes.length; i += TRANSFER_SLICE) parentPort!.postMessage({ id: m.id, routes: config.routes.slice(i, i + TRANSFER_SLICE) });
  parentPort!.postMessage({ id: m.id, result: { ...result, verdict: { ...result.verdict, config: { ...config, routes: [] } } }, sliced: true });
});
