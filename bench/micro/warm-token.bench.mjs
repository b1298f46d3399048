// Micro-measure (not a test): the per-request JS work of a warm Bearer request that is neither a
// syscall nor uWS — the listener's routingHost, extract (RFC 6750 parse, b64token), the token cache's
// key (the verifier's SHA-256 hex, or its digest memo where the build has node/jwt/token-digest.js),
// forward's normalizedHostHeader and the upstream request head — per build. Each build runs in its
// own child process (own JIT), builds alternate, ROUNDS rounds; process CPU time per request.
// Header strings are fresh flat one-byte strings per request, as uWS hands them over.
// TOKENS=1 (default): one token repeated (the warm bench); TOKENS=4096: that many distinct tokens in
// turn, more than the memos hold (their miss cost). Build first, then
// `node bench/micro/warm-token.bench.mjs BASE_ROOT [ROOT]` (ROOT: this tree).
import { hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pairedBuilds, printCpuPerRequest } from './paired-builds.mjs';

const N = Number(process.env.N ?? 400_000);
const TOKENS = Number(process.env.TOKENS ?? 1);
if (process.env.WARM_TOKEN_CHILD === '1') {
  const root = process.argv[2];
  const dist = (p) => pathToFileURL(`${root}/dist/${p}`).href;
  const { extract } = await import(dist('node/pipeline/extract.js'));
  const { requestHead } = await import(dist('node/upstream/h1-request-head.js'));
  const { routingHost, normalizedHostHeader } = await import(dist('node/routing/host-normalize.js'));
  const memoFile = `${root}/dist/node/jwt/token-digest.js`;
  const digests = existsSync(memoFile) ? new (await import(pathToFileURL(memoFile).href)).TokenDigests() : null;
  const cacheKey = digests !== null ? (t) => digests.of(t) : (t) => hash('sha256', t, 'hex');
  const b64 = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + (i * seed >> 3)) & 255)).toString('base64url').slice(0, n);
  const tokens = Array.from({ length: TOKENS }, (_, k) => `eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiYXQrand0In0.${b64(560, k + 1)}.${b64(342, k + 7)}`);
  // a pool of distinct string objects with the same bytes: each request gets its own, as from uWS
  const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
  const POOL = 512;
  const auths = Array.from({ length: Math.max(POOL, TOKENS) }, (_, i) => fresh(`Bearer ${tokens[i % TOKENS]}`));
  const others = Array.from({ length: POOL }, () => [fresh('127.0.0.1:8080'), fresh('wrk'), fresh('*/*')]);
  let sink = 0;
  const one = (i) => {
    const o = others[i % POOL];
    const headers = ['host', o[0], 'user-agent', o[1], 'accept', o[2], 'authorization', auths[i % auths.length]];
    const host = routingHost(headers[1]);
    const ctx = { method: 'GET', path: '/api/orders', query: '', host, headers, remoteAddress: '127.0.0.1', route: null, params: null, token: null, tokenSource: null, tokenScheme: 'bearer', checkedAuthorization: null, principal: null, denyReason: null, responseHeaders: null };
    if (extract(ctx).kind !== 'continue') throw new Error('extract refused');
    sink += cacheKey(ctx.token).length;
    const fwdHost = normalizedHostHeader(headers[1]);
    const out = ['user-agent', o[1], 'accept', o[2], 'authorization', headers[7], 'x-auth-subject', 'user-1', 'x-auth-scopes', 'orders:read', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', fwdHost, 'host', fwdHost];
    sink += requestHead('GET', '/api/orders', out, false, 0, ctx.checkedAuthorization ?? null).length;
  };
  printCpuPerRequest(one, N, () => sink);
} else {
  const base = process.argv[2];
  const here = process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url));
  if (base === undefined) throw new Error('usage: node bench/micro/warm-token.bench.mjs BASE_ROOT [ROOT]');
  pairedBuilds({ script: fileURLToPath(import.meta.url), childEnv: 'WARM_TOKEN_CHILD', base, here, n: N, label: `TOKENS=${TOKENS}` });
}
