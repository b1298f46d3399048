// Micro-measure (not a test): how long a sleeping process on this host takes to see a datagram another process sent —
// the wake-up floor under every cross-process latency figure (the revocation target's idle NATS subscriber, the paced tail).
// Rounds alternate: `idle` (the CPUs halt between messages) and `spin` (one SCHED_IDLE busy loop per CPU: it runs only when
// nothing else wants the CPU and yields at once to any wake-up, so the vCPUs never halt). If `spin` is much lower, the
// floor is the virtual CPU's wake-up from halt (the hypervisor), not the scheduler or the receiving code.
// node bench/micro/wake-floor.mjs [rounds=4] [messages=1500] [gapMs=5]
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { availableParallelism } from 'node:os';

if (process.argv[2] === '--receiver') {
  // one-way latency: the sender's hrtime (CLOCK_MONOTONIC, shared by every process) against ours at arrival
  const sock = dgram.createSocket('udp4');
  const lat = [];
  sock.on('message', (m) => {
    if (m.length === 1) { process.send(lat); return; }
    lat.push(Number(process.hrtime.bigint() - m.readBigUInt64LE(0)) / 1e6);
  });
  sock.bind(0, '127.0.0.1', () => process.send({ port: sock.address().port }));
} else {
  const rounds = Number(process.argv[2] ?? 4);
  const messages = Number(process.argv[3] ?? 1500);
  const gapMs = Number(process.argv[4] ?? 5);
  const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
  const fmt = (x) => x.toFixed(3).padStart(7);
  const round = async (spin) => {
    const spinners = spin ? Array.from({ length: availableParallelism() }, () => spawn('chrt', ['-i', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' })) : [];
    const rx = spawn(process.execPath, [new URL(import.meta.url).pathname, '--receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise((r) => rx.once('message', (m) => r(m.port)));
    const tx = dgram.createSocket('udp4');
    const buf = Buffer.alloc(8);
    for (let i = 0; i < messages; i++) {
      await new Promise((r) => setTimeout(r, gapMs));
      buf.writeBigUInt64LE(process.hrtime.bigint(), 0);
      tx.send(buf, port, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 50));
    const lat = await new Promise((r) => { rx.once('message', r); tx.send(Buffer.alloc(1), port, '127.0.0.1'); });
    tx.close(); rx.kill(); for (const s of spinners) s.kill('SIGKILL');
    lat.sort((a, b) => a - b);
    const over = (t) => (100 * lat.filter((x) => x > t).length / lat.length).toFixed(2).padStart(6);
    console.log(`${spin ? 'spin' : 'idle'}  n ${lat.length}  p50 ${fmt(q(lat, 0.5))}  p90 ${fmt(q(lat, 0.9))}  p99 ${fmt(q(lat, 0.99))}  p99.9 ${fmt(q(lat, 0.999))}  max ${fmt(lat[lat.length - 1])} ms  > 1 ms ${over(1)} %  > 5 ms ${over(5)} %`);
  };
  console.log(`wake-floor: ${rounds} rounds × 2, ${messages} datagrams ${gapMs} ms apart, ${availableParallelism()} CPUs, Node ${process.version}`);
  for (let r = 0; r < rounds; r++) for (const spin of r % 2 === 0 ? [false, true] : [true, false]) await round(spin);
}
