// Experiment (issue 13, "a receiver thread with its own NATS connection"): preloaded into the
// members of `revocation-propagation`, it starts in each member process a worker thread with its
// own NATS connection that authenticates and decodes every revocation — what a receiver thread
// writing shared memory would do, minus the write — and records publishedAt → arrival for
// revocations from other members, while the member's main thread carries on as usual. Compare
// with the same run's members' own publish → applied row. Nothing in the product loads this.
// Run (built tree): RECEIVER_THREAD_DIR=/tmp/rt NODE_OPTIONS="--import $PWD/bench/micro/receiver-thread-preload.mjs" \
//   node dist/cluster/cli/main.js bench revocation-propagation
// then `node bench/micro/receiver-thread-preload.mjs /tmp/rt` prints p50/p90/p99/max per member.
// RECEIVER_THREAD_SCHED=nice:-10 or fifo:10 raises the receiver thread alone (its TID from
// /proc/thread-self; needs CAP_SYS_NICE) — the member's main thread stays at the default.
// RECEIVER_MAIN_NICE=5 lowers the member's main thread instead (no privilege needed), after the
// receiver thread started (threads the main thread creates later, e.g. the verifier pool, inherit it).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const quantile = (xs, p) => xs[Math.max(0, Math.ceil(p * xs.length) - 1)].toFixed(3);

function raiseThisThread(spec) {
  const m = /^(nice|fifo):(-?\d+)$/.exec(spec ?? '');
  if (m === null) return;
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (m[1] === 'nice') setPriority(tid, Number(m[2]));
  else execFileSync('chrt', ['-f', '-p', m[2], String(tid)], { stdio: 'ignore' });
}

async function receiver({ url, prefix }) {
  raiseThisThread(process.env.RECEIVER_THREAD_SCHED);
  const { connect } = await import('nats');
  const { BusAuth, Codec } = await import(new URL('../../dist/cluster/protocol/index.js', import.meta.url).href);
  const auth = new BusAuth({ key: Buffer.from(process.env.PORTCULLIS_BENCH_BUS_KEY ?? '', 'utf8') });
  const codec = new Codec();
  const nc = await connect({ servers: url, name: 'receiver thread experiment' });
  nc.subscribe(`${prefix}.revocations.>`, {
    callback: (err, m) => {
      if (err !== null) return;
      const at = performance.timeOrigin + performance.now();
      const o = auth.open(m.subject, m.data, false);
      const msg = o.ok ? codec.decode(o.payload) : null;
      if (msg?.type === 'revocation.added') parentPort.postMessage([msg.value, msg.origin, at - msg.publishedAt]);
    },
  });
}

if (!isMainThread && workerData?.receiverThread === true) {
  await receiver(workerData);
} else if (isMainThread && process.argv.includes('serve') && process.env.RECEIVER_THREAD_DIR) {
  const cfg = readFileSync(process.argv[process.argv.indexOf('--config') + 1], 'utf8');
  const url = /servers: \["([^"]+)"\]/.exec(cfg)?.[1];
  const prefix = /subject_prefix: (\S+)/.exec(cfg)?.[1];
  const me = /member_id: (\S+)/.exec(cfg)?.[1];
  if (url !== undefined && prefix !== undefined) {
    const delays = [];
    const seen = new Set();
    const w = new Worker(new URL(import.meta.url), { workerData: { receiverThread: true, url, prefix } });
    w.unref();
    if (process.env.RECEIVER_MAIN_NICE) setPriority(process.pid, Number(process.env.RECEIVER_MAIN_NICE));
    w.on('message', ([value, origin, ms]) => { if (origin !== me && !seen.has(value)) { seen.add(value); delays.push(ms); } });
    process.on('exit', () => writeFileSync(join(process.env.RECEIVER_THREAD_DIR, `member-${me}-${process.pid}.json`), JSON.stringify(delays)));
  }
} else if (isMainThread && process.argv[1] !== undefined && new URL(import.meta.url).pathname === process.argv[1] && process.argv[2] !== undefined) {
  for (const f of readdirSync(process.argv[2]).filter((n) => n.startsWith('member-')).sort()) {
    const xs = JSON.parse(readFileSync(join(process.argv[2], f), 'utf8')).sort((a, b) => a - b);
    if (xs.length > 0) process.stdout.write(`${f}: n ${xs.length}  p50 ${quantile(xs, 0.5)}  p90 ${quantile(xs, 0.9)}  p99 ${quantile(xs, 0.99)}  max ${quantile(xs, 1)} ms\n`);
  }
}
