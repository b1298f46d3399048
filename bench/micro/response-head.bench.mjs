// Micro-measure (not a test): CPU per response of writing an upstream's response head to a uWS client,
// two builds' node/http/response-head.js in one process, alternating per batch. The client (a child
// process) sends BATCH pipelined GETs in one write; uWS runs the handler for all of them in one read,
// so a batch's CPU is the handlers' (head + `end`), the two syscalls shared by BATCH responses.
// Build both trees, then `SET=api8|bench2 taskset -c 1 node bench/micro/response-head.bench.mjs BASE_ROOT [ROOT]`.
import net from 'node:net';
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BATCH = 256;
const BATCHES = Number(process.env.BATCHES ?? 3000);
const WARMUP = 200;
if (process.argv[2] === 'client') {
  const req = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(BATCH));
  const c = net.connect(Number(process.argv[3]), '127.0.0.1', () => c.write(req));
  let seen = 0, n = 0, tail = Buffer.alloc(0);
  c.on('data', (chunk) => {
    const d = Buffer.concat([tail, chunk]); // a status line split across two reads is counted once
    for (let i = d.indexOf('HTTP/1.1 '); i !== -1; i = d.indexOf('HTTP/1.1 ', i + 1)) seen++;
    tail = d.subarray(Math.max(0, d.length - 8));
    if (seen < BATCH) return;
    seen -= BATCH;
    if (++n >= BATCHES) { c.end(); process.exit(0); }
    c.write(req);
  });
  c.on('error', () => process.exit(0));
} else {
  const here = fileURLToPath(new URL('../..', import.meta.url));
  const roots = { base: process.argv[2], here: process.argv[3] ?? here };
  const uWS = createRequire(`${roots.here}/package.json`)('uWebSockets.js');
  const builds = {};
  for (const [k, root] of Object.entries(roots)) builds[k] = (await import(pathToFileURL(`${root}/dist/node/http/response-head.js`).href)).writeUpstreamHead;
  const SET = process.env.SET ?? 'api8';
  // what the parser hands over: lower-cased names, values as latin1 strings (the bench's cheap upstream: bench2)
  const sets = {
    bench2: ['content-type', 'text/plain', 'date', 'Mon, 07 Dec 2026 14:20:00 GMT', 'connection', 'keep-alive', 'keep-alive', 'timeout=60', 'content-length', '5'],
    api8: ['content-type', 'application/json; charset=utf-8', 'date', 'Mon, 07 Dec 2026 14:20:00 GMT', 'cache-control', 'no-store', 'etag', 'W/"5-fXkwN6B2AYZXSwKC8vQ15w"', 'vary', 'Accept-Encoding, Origin', 'x-request-id', '0b6f1f3e-6c1a-4a57-9a3e-3f0b1d2c9e11', 'strict-transport-security', 'max-age=63072000; includeSubDomains', 'x-content-type-options', 'nosniff', 'connection', 'keep-alive', 'content-length', '5'],
  };
  const h0 = sets[SET];
  const names = Object.keys(builds);
  const acc = Object.fromEntries(names.map((k) => [k, []]));
  let i = 0, batch = 0, c0 = null, write = builds.base, name = 'base';
  let res = null;
  const respond = () => {
    const h = h0.map((s) => (' ' + s).slice(1)); // fresh strings per response, as sliced from a read
    write(res, 200, 'OK', h, false, null, null, false);
    res.end('hello');
  };
  uWS.App().any('/*', (r) => {
    if (i === 0) { name = names[batch % names.length]; write = builds[name]; c0 = process.cpuUsage(); }
    res = r;
    r.cork(respond);
    if (++i < BATCH) return;
    const c = process.cpuUsage(c0);
    if (batch >= WARMUP) acc[name].push((c.user + c.system) / BATCH);
    i = 0;
    if (++batch < BATCHES) return;
    const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const k of names) console.log(`${SET} ${k} (${roots[k]}): mean ${(mean(acc[k]) * 1000).toFixed(0)} ns/resp · median ${(med(acc[k]) * 1000).toFixed(0)} · ${acc[k].length} batches of ${BATCH}`);
    process.exit(0);
  }).listen('127.0.0.1', 0, (s) => { fork(fileURLToPath(import.meta.url), ['client', String(uWS.us_socket_local_port(s))]); });
}
