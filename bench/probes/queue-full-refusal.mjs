// CPU of one introspection lookup refused because the queue is full (a junk opaque-token flood), two
// builds in one process, alternating: each build's compiled IntrospectionClient (dist/node/introspection)
// with its one connection held by an authorization server that never answers and its one waiting place
// taken; then batches of distinct junk tokens, each lookup settled (awaited when it is a promise).
// Usage: node bench/probes/queue-full-refusal.mjs BEFORE_ROOT AFTER_ROOT [rounds] [tokens per batch]
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { cpuUsage } from 'node:process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [beforeRoot, afterRoot, roundsArg = '6', batchArg = '20000'] = process.argv.slice(2);
const held = [];
const as = createServer((req, res) => { req.resume(); held.push(res); });
await new Promise((r) => as.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${as.address().port}/introspect`;

async function setUp(root) {
  const { IntrospectionClient } = await import(pathToFileURL(join(root, 'dist/node/introspection/index.js')).href);
  const { issuerSchema } = await import(pathToFileURL(join(root, 'dist/node/config/index.js')).href);
  const issuer = issuerSchema.parse({ issuer: 'https://as.example', audiences: ['api'],
    introspection: { endpoint, client_id: 'p', client_secret_env: 'S', connections: 1, max_pending: 1, timeout_ms: 600_000, late_answer_ms: 600_000 } });
  const c = new IntrospectionClient({ name: 'x', issuer, env: { S: 's' } });
  const from = () => '192.0.2.1';
  void c.lookup('hold-0', undefined, from); // on the wire (never answered)
  while (held.length < (root === beforeRoot ? 1 : 2)) await new Promise((r) => setTimeout(r, 10));
  void c.lookup(`hold-1-${root}`, undefined, from); // the one waiting place
  return { c, from };
}
const builds = { before: await setUp(beforeRoot), after: await setUp(afterRoot) };
const tokens = Array.from({ length: Number(batchArg) }, () => randomBytes(24).toString('base64url'));

async function batch({ c, from }) {
  const t0 = cpuUsage();
  const pending = [];
  let refused = 0;
  for (const t of tokens) {
    const r = c.lookup(t, undefined, from);
    if (r instanceof Promise) pending.push(r.then((o) => { if (!o.ok && o.reason === 'introspection_queue_full') refused++; }));
    else if (!r.ok && r.reason === 'introspection_queue_full') refused++;
  }
  await Promise.all(pending);
  const d = cpuUsage(t0);
  if (refused !== tokens.length) throw new Error(`only ${refused} of ${tokens.length} refused`);
  return (d.user + d.system) / tokens.length;
}

console.log(JSON.stringify({ loadavgStart: loadavg(), node: process.version, tokens: tokens.length }));
for (let i = 0; i < 2; i++) { await batch(builds.before); await batch(builds.after); } // warm both
const rows = [];
for (let r = 0; r < Number(roundsArg); r++) {
  const order = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  const row = { round: r + 1 };
  for (const b of order) row[`${b}_us`] = +(await batch(builds[b])).toFixed(3);
  row.ratio = +(row.after_us / row.before_us).toFixed(3);
  rows.push(row);
  console.log(JSON.stringify(row));
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({ median_before_us: med(rows.map((x) => x.before_us)), median_after_us: med(rows.map((x) => x.after_us)), median_ratio: med(rows.map((x) => x.ratio)), loadavgEnd: loadavg() }));
for (const res of held) res.destroy();
as.closeAllConnections(); as.close();
process.exit(0);
