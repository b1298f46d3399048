// The primary's parse of a reloaded config (`serve --workers N`): a large one is parsed in a worker
// thread, so the primary's event loop keeps running — its workers' revocation lease (primary-lease.ts)
// hears from it every 100 ms, and a reload of thousands of routes no longer answers their requests 503.
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { deepFreeze, parseConfigText, type ConfigResult } from '../../node/config/index.js';

/** Config texts up to this size are parsed on the event loop (tens of routes: ms); larger ones in a thread. */
export const INLINE_PARSE_MAX_BYTES = 64 * 1024;
/** How long the thread may take, ms, before the reload is refused. */
const PARSE_TIMEOUT_MS = 60_000;

function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/cluster/process/reload-parse.worker.js', here) : new URL('./reload-parse.worker.js', here);
}

/**
 * parseConfigText(text) with this process's environment, a hidden route refused (an operator's file) — in a one-shot worker thread when `text` is
 * larger than INLINE_PARSE_MAX_BYTES (the config comes back deep-frozen, as parseConfigText freezes it).
 * Never rejects: a thread that fails or exceeds 60 s is a refusal naming why.
 */
export function parseReloadText(text: string, inlineMaxBytes = INLINE_PARSE_MAX_BYTES): Promise<ConfigResult> {
  if (Buffer.byteLength(text) <= inlineMaxBytes) return Promise.resolve(parseConfigText(text, { env: process.env, refuseHiddenRoutes: true }));
  return new Promise((resolve) => {
    const refused = (message: string): ConfigResult => ({ ok: false, errors: [{ path: '(config)', message }] });
    const w = new Worker(workerUrl(), { workerData: { text }, env: SHARE_ENV });
    let done = false;
    const finish = (r: ConfigResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void w.terminate();
      resolve(r.ok ? { ok: true, config: deepFreeze(r.config) } : r);
    };
    const timer = setTimeout(() => finish(refused(`validation did not finish within ${PARSE_TIMEOUT_MS} ms`)), PARSE_TIMEOUT_MS);
    w.once('message', (r: ConfigResult) => finish(r));
    w.once('error', (err) => finish(refused(`validation failed: ${err.message}`)));
    w.once('exit', () => finish(refused('validation thread exited without an answer')));
  });
}
