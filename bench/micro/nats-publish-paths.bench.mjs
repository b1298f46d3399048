// Micro-measure (not a test): does a core-NATS copy sent beside the JetStream publish reach a
// subscriber sooner than the JetStream publish alone? (issue 13: "fan out on core NATS in
// parallel with the durable JetStream write"). One publisher process, one otherwise idle
// subscriber process (this file with `sub`), one nats-server with JetStream (file store).
// Per message the variant rotates: `js` (what a member does: one JetStream publish, which
// nats-server also hands to live subscribers), `core` (plain publish, not stored: the lower
// bound), `both` (core copy then JetStream, one flush), `conn2` (core copy on a second
// connection, then JetStream), `defer` (core copy, JetStream a macrotask later). The subscriber
// keeps the first copy of each message; latency = its arrival − the stamp taken just before
// publishing, wall clock on one host.
// Run: `nats-server -js -sd /tmp/js -p 4333 &` then
// `node bench/micro/nats-publish-paths.bench.mjs nats://127.0.0.1:4333 [messages]` (default 1000,
// 20–50 ms apart). Prints p50/p90/p99/max ms per variant.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';

const VARIANTS = ['js', 'core', 'both', 'conn2', 'defer'];
const url = process.argv[2] ?? 'nats://127.0.0.1:4222';
const now = () => performance.timeOrigin + performance.now();

async function subscriber() {
  const nc = await connect({ servers: url, name: 'publish-paths subscriber' });
  const lat = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  const seen = new Set();
  nc.subscribe('pubpaths.>', {
    callback: (err, m) => {
      if (err !== null) return;
      const at = now();
      const [variant, id, sent] = new TextDecoder().decode(m.data).split(' ');
      if (seen.has(id)) return; // the second copy of a two-copy variant
      seen.add(id);
      lat[variant]?.push(at - Number(sent));
    },
  });
  await nc.flush();
  process.once('SIGTERM', () => {
    const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? '—' : s[Math.max(0, Math.ceil(p * s.length) - 1)].toFixed(3); };
    for (const v of VARIANTS) process.stdout.write(`${v.padEnd(6)} n ${lat[v].length}  p50 ${q(lat[v], 0.5)}  p90 ${q(lat[v], 0.9)}  p99 ${q(lat[v], 0.99)}  max ${q(lat[v], 1)} ms\n`);
    process.exit(0);
  });
  process.stdout.write('ready\n');
}

async function publisher() {
  const n = Number(process.argv[3] ?? 1000);
  const sub = spawn(process.execPath, [fileURLToPath(import.meta.url), url, 'sub'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  sub.stdout.setEncoding('utf8');
  await new Promise((resolve) => sub.stdout.on('data', (c) => { out += c; if (out.includes('ready')) resolve(); }));
  const nc = await connect({ servers: url, name: 'publish-paths publisher' });
  const nc2 = await connect({ servers: url, name: 'publish-paths second connection' });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete('PUBPATHS').catch(() => {});
  await jsm.streams.add({ name: 'PUBPATHS', subjects: ['pubpaths.js.>'], storage: 'file', max_age: 600e9, duplicate_window: 120e9 });
  const js = nc.jetstream();
  const enc = new TextEncoder();
  for (let i = 0; i < n; i++) {
    const variant = VARIANTS[i % VARIANTS.length];
    const data = enc.encode(`${variant} ${i} ${now()}`);
    const msgID = `m${i}-${Date.now()}`;
    switch (variant) {
      case 'js': await js.publish(`pubpaths.js.${i}`, data, { msgID }); break;
      case 'core': nc.publish(`pubpaths.core.${i}`, data); await nc.flush(); break;
      case 'both': nc.publish(`pubpaths.live.${i}`, data); await js.publish(`pubpaths.js.${i}`, data, { msgID }); break;
      case 'conn2': nc2.publish(`pubpaths.live.${i}`, data); await js.publish(`pubpaths.js.${i}`, data, { msgID }); break;
      case 'defer': nc.publish(`pubpaths.live.${i}`, data); await new Promise((r) => setImmediate(r)); await js.publish(`pubpaths.js.${i}`, data, { msgID }); break;
    }
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
  }
  await jsm.streams.delete('PUBPATHS').catch(() => {});
  await nc.close();
  await nc2.close();
  const exited = new Promise((r) => sub.once('exit', r));
  sub.kill('SIGTERM');
  await exited;
  process.stdout.write(out.replace('ready\n', ''));
}

if (process.argv[3] === 'sub') await subscriber(); else await publisher();
