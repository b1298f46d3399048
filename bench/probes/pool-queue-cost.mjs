// What the verifier pool's waiting line costs per token: the fair queue (push, then shift into batches of
// 32) against the array it replaced (push, then splice batches of 32), one client and 64 clients, in one
// process, alternating. Usage: node bench/probes/pool-queue-cost.mjs [rounds]
import { cpuUsage } from 'node:process';
import { loadavg } from 'node:os';
import { FairQueue } from '../../dist/node/fair-queue.js';

const N = 200_000;
const BATCH = 32;
const jobs = (clients) => Array.from({ length: N }, (_, i) => ({ client: clients === 1 ? '' : `192.0.2.${i % clients}` }));
const one = jobs(1);
const many = jobs(64);
function viaArray(list) {
  let pending = [];
  let sent = 0;
  for (let i = 0; i < list.length; i += 256) {
    for (let j = i; j < i + 256 && j < list.length; j++) pending.push(list[j]);
    while (pending.length > 0) sent += (pending.length <= BATCH ? pending.splice(0) : pending.splice(0, BATCH)).length;
  }
  return sent;
}
function viaFair(list) {
  const q = new FairQueue(4096);
  let sent = 0;
  for (let i = 0; i < list.length; i += 256) {
    for (let j = i; j < i + 256 && j < list.length; j++) q.push(list[j]);
    while (q.size > 0) {
      const items = [];
      while (items.length < BATCH) { const p = q.shift(); if (p === undefined) break; items.push(p); }
      sent += items.length;
    }
  }
  return sent;
}
const ns = (f, list) => { const t0 = cpuUsage(); if (f(list) !== N) throw new Error('lost'); const d = cpuUsage(t0); return ((d.user + d.system) * 1000) / N; };
console.log(JSON.stringify({ loadavgStart: loadavg(), node: process.version, tokens: N }));
for (let w = 0; w < 3; w++) { ns(viaArray, one); ns(viaFair, one); ns(viaFair, many); }
for (let r = 0; r < Number(process.argv[2] ?? 6); r++) {
  const row = { round: r + 1, array_ns: +ns(viaArray, one).toFixed(1), fair_one_client_ns: +ns(viaFair, one).toFixed(1), fair_64_clients_ns: +ns(viaFair, many).toFixed(1) };
  console.log(JSON.stringify(row));
}
console.log(JSON.stringify({ loadavgEnd: loadavg() }));
