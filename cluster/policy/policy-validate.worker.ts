// Worker thread entry: decodes and validates one policy version (policy-validate.ts) off the event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { checkVersion } from './policy-validate.js';

const { localRaw, payload } = workerData as { localRaw: unknown; payload: Uint8Array };
parentPort?.postMessage(checkVersion(localRaw, payload, process.env));
