// Micro-measure (not a test): one sealed owner request/reply over a real nats-server — the asker's
// path (seal, wait for the first authentic reply bound to it, open) and the owner's answer, both ends
// in this process: CPU µs per round trip (process.cpuUsage) and latency p50/p99, best of 3.
// Build first (`npx tsc -p tsconfig.json`), start a nats-server, then
// `NATS_URL=127.0.0.1:4222 node bench/micro/bus-request.bench.mjs [DIST]` (N iterations, default 3000;
// DIST another build's dist/ to compare, default ./dist).
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = pathToFileURL(resolve(process.argv[2] ?? 'dist')).href;
const { Codec, MessageBus, NatsTransport, subjects, BusAuth } = await import(`${dist}/cluster/index.js`);
const N = Number(process.env.N ?? 3000);
const key = new Uint8Array(32).fill(9);
const member = () => {
  const t = new NatsTransport({ connection: { servers: [process.env.NATS_URL ?? '127.0.0.1:4222'] } });
  t.start();
  return { t, bus: new MessageBus(t, new Codec(), subjects('bench'), new BusAuth({ key })) };
};
const asker = member();
const owner = member();
await Promise.all([asker.t.whenConnected(5_000), owner.t.whenConnected(5_000)]);
owner.bus.subscribe('bench.rpc.dpop.owner', (m, incoming) => owner.bus.respond(incoming, { type: 'dpop.claimed', v: 1, key: m.key, verdict: 'fresh' }));
await owner.t.connection().flush();
const keys = Array.from({ length: N }, (_, i) => createHash('sha256').update(String(i)).digest('base64url'));
const run = async () => {
  const lat = [];
  const exp = Math.floor(Date.now() / 1000) + 60;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    await asker.bus.request('bench.rpc.dpop.owner', { type: 'dpop.claim', v: 1, key: keys[i], expiresAt: exp, member: 'asker' }, 1_000);
    lat.push(Number(process.hrtime.bigint() - t0) / 1_000);
  }
  const c = process.cpuUsage(c0);
  lat.sort((x, y) => x - y);
  return { cpu: (c.user + c.system) / N, p50: lat[N >> 1], p99: lat[Math.floor(N * 0.99)] };
};
await run(); // warm-up
const rs = [await run(), await run(), await run()];
const best = (k) => Math.min(...rs.map((r) => r[k])).toFixed(1);
console.log(`${dist}: N=${N}, best of 3: CPU ${best('cpu')} µs per round trip (both ends), p50 ${best('p50')} µs, p99 ${best('p99')} µs`);
await asker.t.close();
await owner.t.close();
