// Worker thread entry of reload-parse.ts: parses and validates one reloaded config text (environment
// included: SHARE_ENV, this process's as it is now) off the primary's event loop and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { parseConfigText } from '../../node/config/index.js';

const { text } = workerData as { text: string };
try {
  parentPort!.postMessage(parseConfigText(text, { env: process.env, refuseHiddenRoutes: true }));
} catch (err) {
  parentPort!.postMessage({ ok: false, errors: [{ path: '(config)', message: `validation failed: ${String(err)}` }] });
}
