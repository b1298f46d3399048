// Micro-benchmark (run by hand, not by vitest): client-side CPU µs per request of H1Pool vs
// undici Pool.dispatch, 50 concurrent keep-alive GETs against a node:http server in a child
// process (so its CPU is not counted). Usage: node bench/micro/h1-client.bench.mjs [requests] [rounds]
// H1Pool's TypeScript is transpiled on the fly (typescript.transpileModule) into a temp dir.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (process.argv[2] === '--server') {
  const body = Buffer.from('ok');
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  await main();
}

async function loadH1() {
  const ts = (await import('typescript')).default;
  const src = join(dirname(fileURLToPath(import.meta.url)), '../../node/upstream');
  const out = mkdtempSync(join(os.tmpdir(), 'h1-bench-'));
  for (const f of ['h1-parser', 'h1-request-head', 'h1-client', 'h1-transaction', 'h1-connection', 'h1-pool']) {
    const js = ts.transpileModule(readFileSync(join(src, `${f}.ts`), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(out, `${f}.js`), js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  return import(pathToFileURL(join(out, 'h1-pool.js')).href);
}

/** Run `total` requests, `concurrency` at a time; `one(done)` starts a request and calls done() at its end. */
function drive(total, concurrency, one) {
  return new Promise((resolve, reject) => {
    let started = 0, finished = 0;
    const next = (err) => {
      if (err) { reject(err); return; }
      finished++;
      if (finished === total) { resolve(); return; }
      if (started < total) { started++; one(next); }
    };
    for (let i = 0; i < concurrency && started < total; i++) { started++; one(next); }
  });
}

async function measure(name, total, concurrency, one) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await drive(total, concurrency, one);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { name, usPerReq: (c.user + c.system) / total, userUs: c.user / total, sysUs: c.system / total, rps: total / wall };
}

async function main() {
  const total = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 5);
  const concurrency = 50;
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const port = await new Promise((r) => child.once('message', r));
  const origin = `http://127.0.0.1:${port}`;
  const { H1Pool } = await loadH1();
  const { Pool } = await import('undici');

  const h1 = new H1Pool(origin, { connections: concurrency, keepAliveMs: 60_000, connectTimeoutMs: 5_000, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
  const headers = ['host', `127.0.0.1:${port}`, 'accept', '*/*', 'user-agent', 'bench'];
  // One handler object per request, like the proxy's Exchange.
  class H1Handler {
    constructor(done) { this.done = done; this.bytes = 0; }
    onResponseStart(status) { this.status = status; }
    onResponseData(chunk) { this.bytes += chunk.length; }
    onResponseEnd() { this.done(this.status === 200 ? null : new Error(`status ${this.status}`)); }
    onError(err) { this.done(err); }
  }
  const h1One = (done) => { h1.request({ method: 'GET', path: '/', headers, body: null, contentLength: 0 }, new H1Handler(done)); };

  const undici = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  class UndiciHandler {
    constructor(done) { this.done = done; this.bytes = 0; }
    onRequestStart() {}
    onResponseStart(_c, status) { this.status = status; }
    onResponseData(_c, chunk) { this.bytes += chunk.length; }
    onResponseEnd() { this.done(this.status === 200 ? null : new Error(`status ${this.status}`)); }
    onResponseError(_c, err) { this.done(err); }
  }
  const undiciOne = (done) => { undici.dispatch({ origin, method: 'GET', path: '/', headers }, new UndiciHandler(done)); };

  // Warm up both (JIT, sockets).
  await measure('warm', 20_000, concurrency, h1One);
  await measure('warm', 20_000, concurrency, undiciOne);
  const results = { H1Pool: [], 'undici Pool': [] };
  for (let r = 0; r < rounds; r++) {
    results.H1Pool.push(await measure('H1Pool', total, concurrency, h1One));
    results['undici Pool'].push(await measure('undici Pool', total, concurrency, undiciOne));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, ${total} requests x ${rounds} rounds, ${concurrency} concurrent keep-alive GETs, 2-byte responses`);
  console.log('client           CPU µs/req (median)  user  sys   req/s (median)   all rounds µs/req');
  for (const [name, rs] of Object.entries(results)) {
    console.log(`${name.padEnd(16)} ${median(rs.map((x) => x.usPerReq)).toFixed(1).padStart(18)} ${median(rs.map((x) => x.userUs)).toFixed(1).padStart(5)} ${median(rs.map((x) => x.sysUs)).toFixed(1).padStart(4)} ${Math.round(median(rs.map((x) => x.rps))).toString().padStart(15)}   ${rs.map((x) => x.usPerReq.toFixed(1)).join(' ')}`);
  }
  console.log(`H1Pool stats: ${JSON.stringify(h1.stats())}`);
  await h1.close();
  await undici.close();
  child.kill();
}
