// Worker-thread entry (token-signer.ts ThreadSigner): signs a batch of internal-token
// signing inputs per message. Keys arrive as PKCS#8 PEM with every item and are imported
// once per kid. Never throws across the boundary: a failed item answers null.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { isMainThread, parentPort } from 'node:worker_threads';
import { signJws } from './jws-sign.js';
import type { InternalAlg } from './key-ring.js';

export interface SignItem {
  readonly kid: string;
  readonly alg: InternalAlg;
  readonly pkcs8: string;
  readonly input: string;
}

const keys = new Map<string, KeyObject>();

function keyFor(item: SignItem): KeyObject {
  let k = keys.get(item.kid);
  if (k === undefined) {
    if (keys.size >= 64) keys.clear(); // retired keys are never used again
    k = createPrivateKey(item.pkcs8);
    keys.set(item.kid, k);
  }
  return k;
}

/** One signature (base64url) per item, null where signing failed. */
export default function signBatch(items: readonly SignItem[]): (string | null)[] {
  const out: (string | null)[] = [];
  for (const item of items) {
    try {
      out.push(signJws(item.alg, keyFor(item), item.input));
    } catch {
      out.push(null);
    }
  }
  return out;
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  port.on('message', (items: readonly SignItem[]) => port.postMessage(signBatch(items)));
}
