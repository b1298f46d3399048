// Loopback ports a test names before something binds them (nats-server, nginx, HAProxy, a member's
// fixed direct port). Picked below the kernel's ephemeral range, so no port-0 bind of another suite
// running beside this one can take the port between the check and the real bind.
import { createServer, type Server } from 'node:net';
import { ephemeralLow, fetchBlocked } from '../../cluster/process/worker-port.js'; // that file alone: no supervisor imports in every port-taking test

const LOW = 10_000;
const HIGH = ephemeralLow();

function bind(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/**
 * `count` consecutive free TCP ports on 127.0.0.1 (default 1), the first returned: bound, then
 * released. Chosen at random below the ephemeral range; throws after 200 tries.
 */
export async function freePort(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    // a monitor or admin port on 10080: the test's fetch() refuses it ("bad port") and waits out its timeout
    if (Array.from({ length: count }, (_, i) => first + i).some(fetchBlocked)) continue;
    const held: Server[] = [];
    for (let i = 0; i < count; i++) {
      const s = await bind(first + i);
      if (s === null) break;
      held.push(s);
    }
    await Promise.all(held.map(close));
    if (held.length === count) return first;
  }
  throw new Error(`no ${count} free consecutive loopback ports found in ${LOW}–${HIGH - 1}`);
}
