// Micro-measure (not a test): client-side CPU µs per request of the built H1Pool (dist/) with the
// request head written below the stream (node/upstream/handle-write.ts) vs through socket.write,
// in ONE process: modes alternate round by round (same JIT, same sockets), 64 concurrent
// keep-alive GETs against a raw net server in a child process (its CPU not counted).
// Build first; `ROUNDS=10 N=100000 node bench/micro/upstream-write.bench.mjs [ROOT]`.
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (process.argv[2] === '--server') {
  const resp = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');
  const srv = net.createServer((c) => {
    c.setNoDelay(true);
    let tail = '';
    c.on('data', (d) => {
      const s = tail + d.toString('latin1');
      let n = 0, i = -1;
      while ((i = s.indexOf('\r\n\r\n', i + 1)) !== -1) n++;
      tail = s.slice(s.lastIndexOf('\r\n\r\n') + 4);
      for (let k = 0; k < n; k++) c.write(resp);
    });
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
} else {
  const root = process.argv[2] ?? fileURLToPath(new URL('../..', import.meta.url));
  const dist = (p) => pathToFileURL(`${root}/dist/${p}`).href;
  const { H1Pool } = await import(dist('node/upstream/h1-pool.js'));
  const hw = await import(dist('node/upstream/handle-write.js'));
  const N = Number(process.env.N ?? 100_000), ROUNDS = Number(process.env.ROUNDS ?? 10), C = 64;
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const port = await new Promise((r) => child.once('message', r));
  const pool = new H1Pool(`http://127.0.0.1:${port}`, { connections: C, keepAliveMs: 60_000, connectTimeoutMs: 5_000, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
  // the warm hop's head: host, X-Forwarded-For and a ~950-byte bearer token
  const headers = ['host', 'upstream.internal', 'x-forwarded-for', '127.0.0.1', 'authorization', `Bearer eyJ${'a'.repeat(940)}`, 'accept', '*/*'];
  class Handler {
    constructor(done) { this.done = done; this.status = 0; }
    onResponseStart(status) { this.status = status; }
    onResponseData() {}
    onResponseEnd() { this.done(this.status === 200 ? null : new Error(`status ${this.status}`)); }
    onError(err) { this.done(new Error(err.message)); }
  }
  const one = (done) => pool.request({ method: 'GET', path: '/api/thing', headers, body: null, contentLength: 0 }, new Handler(done));
  const drive = (total) => new Promise((resolve, reject) => {
    let started = 0, finished = 0;
    const next = (err) => {
      if (err) { reject(err); return; }
      if (++finished === total) { resolve(); return; }
      if (started < total) { started++; one(next); }
    };
    for (let i = 0; i < C && started < total; i++) { started++; one(next); }
  });
  const measure = async (direct) => {
    hw.setDirectWrite(direct);
    const c0 = process.cpuUsage();
    await drive(N);
    const c = process.cpuUsage(c0);
    return { us: (c.user + c.system) / N, user: c.user / N, sys: c.system / N };
  };
  await measure(true); await measure(false); // warm-up: JIT and connections
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const res = {};
    for (const d of order) res[d ? 'direct' : 'stream'] = await measure(d);
    rows.push(res);
  }
  console.log(`| round | socket.write µs/req (user/sys) | direct µs/req (user/sys) | saved |\n|---|---:|---:|---:|`);
  rows.forEach((x, i) => console.log(`| ${i + 1} | ${x.stream.us.toFixed(2)} (${x.stream.user.toFixed(2)}/${x.stream.sys.toFixed(2)}) | ${x.direct.us.toFixed(2)} (${x.direct.user.toFixed(2)}/${x.direct.sys.toFixed(2)}) | ${(x.stream.us - x.direct.us).toFixed(2)} |`));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  console.log(`median saved: ${med(rows.map((x) => x.stream.us - x.direct.us)).toFixed(3)} µs/req total, user ${med(rows.map((x) => x.stream.user - x.direct.user)).toFixed(3)} (N=${N}, ${C} concurrent, ${ROUNDS} rounds; counters ${JSON.stringify(hw.directWriteCounters)})`);
  await pool.close();
  child.kill();
}
