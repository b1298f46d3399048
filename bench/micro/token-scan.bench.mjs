// Micro-measure (not a test): the per-request JS work a warm Bearer request's ~970-character
// token meets in extract (RFC 6750 parse) and in the upstream client's request head (value
// checks), per build. Each build runs in its own child process (own JIT), builds alternate,
// ROUNDS rounds; CPU time of the process (process.cpuUsage) per request. Header strings are
// fresh flat one-byte strings per request, as uWS hands them over.
// Build first, then `node bench/micro/token-scan.bench.mjs BASE_ROOT [ROOT]` (ROOT: this tree).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pairedBuilds, printCpuPerRequest } from './paired-builds.mjs';

const N = Number(process.env.N ?? 400_000);
if (process.env.TOKEN_SCAN_CHILD === '1') {
  const root = process.argv[2];
  const dist = (p) => pathToFileURL(`${root}/dist/${p}`).href;
  const { extract } = await import(dist('node/pipeline/extract.js'));
  const { requestHead } = await import(dist('node/upstream/h1-request-head.js'));
  const b64 = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255)).toString('base64url').slice(0, n);
  const token = `eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiYXQrand0In0.${b64(560, 1)}.${b64(342, 2)}`;
  // a pool of distinct string objects with the same bytes: each request gets its own, as from uWS
  const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
  const POOL = 512;
  const auths = Array.from({ length: POOL }, () => fresh(`Bearer ${token}`));
  const others = Array.from({ length: POOL }, () => [fresh('127.0.0.1:8080'), fresh('wrk'), fresh('*/*')]);
  let sink = 0;
  const one = (i) => {
    const o = others[i % POOL];
    const headers = ['host', o[0], 'user-agent', o[1], 'accept', o[2], 'authorization', auths[i % POOL]];
    const ctx = { method: 'GET', path: '/api/orders', query: '', host: '127.0.0.1', headers, remoteAddress: '127.0.0.1', route: null, params: null, token: null, tokenSource: null, tokenScheme: 'bearer', checkedAuthorization: null, principal: null, denyReason: null, responseHeaders: null };
    if (extract(ctx).kind !== 'continue') throw new Error('extract refused');
    const out = ['user-agent', o[1], 'accept', o[2], 'authorization', headers[7], 'x-auth-subject', 'user-1', 'x-auth-scopes', 'orders:read', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', '127.0.0.1:8080', 'host', o[0]];
    sink += requestHead('GET', '/api/orders', out, false, 0, ctx.checkedAuthorization ?? null).length;
  };
  printCpuPerRequest(one, N, () => sink);
} else {
  const base = process.argv[2];
  const here = process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url));
  if (base === undefined) throw new Error('usage: node bench/micro/token-scan.bench.mjs BASE_ROOT [ROOT]');
  pairedBuilds({ script: fileURLToPath(import.meta.url), childEnv: 'TOKEN_SCAN_CHILD', base, here, n: N });
}
