// Micro-measure (not a test): a member's own work per revocation that arrives from the bus — the
// NATS transport's callback onwards: authenticate (HMAC) and decode (MessageBus), the admin API's
// rules at the signing time, the store's apply, the audit hook — and the request path's check
// after it (RevocationStore.isRevoked). CPU time (process.cpuUsage: robust on a shared machine)
// and wall time, per message. The sealed bytes enter through a synchronous stand-in transport
// exactly where NatsTransport hands a message's bytes over (its subscription callback); only the
// socket read and nats.js's parse are missing.
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/revocation-apply.bench.mjs` (env N, default 20000).
import { randomUUID } from 'node:crypto';
import { BusAuth, Codec, LocalTransport, MessageBus, RevocationActor, RevocationStore, revocationAdded, subjects } from '../../dist/cluster/index.js';
import { tokenFacts } from '../../dist/node/contracts/index.js';

const N = Number(process.env.N ?? 20_000);
const auth = new BusAuth({ key: Buffer.from('micro-bench-bus-key-0123456789abcdef0123456789', 'utf8') });
const subs = subjects('micro');
/** Delivers synchronously, as NatsTransport's subscription callback does (LocalTransport defers to a microtask). */
class SyncTransport {
  kind = 'local';
  handlers = [];
  publish(subject, data) { for (const h of this.handlers) h({ subject, data, isRequest: false, respond() {} }); }
  subscribe(_subject, handler) { this.handlers.push(handler); return () => {}; }
  request() { return Promise.reject(new Error('no requests here')); }
  isConnected() { return true; }
  onStatus() { return () => {}; }
  stats() { return {}; }
  async close() {}
}
// The receiver: a member in local mode fed by that transport.
const inbound = new SyncTransport();
const store = new RevocationStore(Date.now, { maxEntries: 2 * N + 10 });
const actor = new RevocationActor({ store, bus: new MessageBus(inbound, new Codec(), subs, auth), mode: 'local', memberId: 'receiver', maxLifetimeS: 3600 });
actor.start();
// The origin's sealing (done up front: it is the other member's cost).
const origin = new MessageBus(new LocalTransport(), new Codec(), subs, auth);
const now = Date.now();
const mk = (i) => ({ id: `rv-${i}-${randomUUID()}`, kind: 'jti', value: randomUUID(), issuer: null, before: null, expiresAt: Math.floor(now / 1000) + 3600, reason: 'bench', createdAt: now, origin: 'origin' });
const batch = (n) => Array.from({ length: n }, (_, i) => { const r = mk(i); return { r, bytes: origin.seal(subs.revocation('jti'), revocationAdded(r, now)) }; });

function run(msgs) {
  const subject = subs.revocation('jti');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const m of msgs) inbound.publish(subject, m.bytes);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { wallUs: (wall * 1000) / msgs.length, cpuUs: (cpu.user + cpu.system) / msgs.length };
}

run(batch(2_000)); // JIT warm-up
const msgs = batch(N);
const before = store.size;
const r = run(msgs);
if (store.size - before !== N) throw new Error(`applied ${store.size - before} of ${N}`);
// The request path after it: one check per request, store holding N + 2000 entries.
const facts = msgs.slice(0, 1000).map((m) => tokenFacts('h'.repeat(43), { jti: m.r.value, sub: 'alice', iat: Math.floor(now / 1000) - 10 }, 'k1', 'https://issuer.example'));
let hits = 0;
const c0 = process.cpuUsage();
for (let k = 0; k < 200; k++) for (const f of facts) if (store.isRevoked(f)) hits++;
const cpu = process.cpuUsage(c0);
process.stdout.write(`receive → applied, per revocation: ${r.cpuUs.toFixed(2)} µs CPU, ${r.wallUs.toFixed(2)} µs wall (N ${N}, store ${store.size} entries)\n`);
process.stdout.write(`isRevoked on the request path: ${(((cpu.user + cpu.system) / (200 * facts.length)) * 1000).toFixed(0)} ns CPU per check (${hits} hits of ${200 * facts.length})\n`);
await actor.close();
