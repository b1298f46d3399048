// Micro-measure (not a test): requestHead alone per build, the warm RS256 header list (the ~970-char
// Authorization, four identity headers) and the passthrough one; fresh name strings per request as uWS
// hands them. Run each build in turn: `taskset -c 1 node bench/micro/request-head.bench.mjs ROOT` (ROOT: a built tree).
const root = process.argv[2];
const { requestHead } = await import(`${root}/dist/node/upstream/h1-request-head.js`);
const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
const tok = 'Bearer ' + 'x'.repeat(960);
const P = 256;
const mk = (warm) => Array.from({ length: P }, () => [fresh('user-agent'), 'wrk', fresh('accept'), '*/*', ...(warm ? [fresh('authorization'), tok] : []), ...(warm ? ['x-auth-subject', 'user-1', 'x-auth-scopes', 'orders:read', 'x-auth-client-id', 'bench-client', 'x-auth-issuer', 'http://127.0.0.1:9999'] : []), 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', '127.0.0.1:8080', 'host', '127.0.0.1:8080']);
const W = mk(true), S = mk(false);
const N = 600_000; let sink = 0;
const run = (L, c) => { for (let i = 0; i < N; i++) sink += requestHead('GET', '/api/orders', L[i & (P - 1)], false, 0, c).length; };
run(W, tok); run(S, null);
let t = process.cpuUsage(); run(W, tok); let u = process.cpuUsage(t); const w = (u.user + u.system) / N * 1000;
t = process.cpuUsage(); run(S, null); u = process.cpuUsage(t); const s = (u.user + u.system) / N * 1000;
console.log(JSON.stringify({ root, warm: +w.toFixed(0), pass: +s.toFixed(0), sink: sink > 0 }));
