// Worker thread entry: validates one policy version (policy-validate.ts) off the event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { validatePolicy } from './policy-validate.js';

const { localRaw, policy } = workerData as { localRaw: unknown; policy: unknown };
parentPort?.postMessage(validatePolicy(localRaw, policy, process.env));
