// Micro-measure (not a test): the whole JS side of a warm RS256 request after the listener — the
// pipeline's stages (extract, gate, verify on a cached token, revocation, DPoP, authorize), forward
// (mutate, identity headers, X-Forwarded-*) and the upstream request head — against the same for an
// `auth: none` route, per build: what the token part costs in JS. Real config, real auth side, a demo
// authorization server on 127.0.0.1 for the keys; fresh header strings per request as uWS hands them.
// Each build in its own child process, alternating. Build first, then
// `ROUTE=orders|open node bench/micro/warm-pipeline.bench.mjs BASE_ROOT [ROOT]` (AUTH=0 with ROUTE=open: no Authorization header).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pairedBuilds, printCpuPerRequest } from './paired-builds.mjs';

const N = Number(process.env.N ?? 200_000);
const ROUTE = process.env.ROUTE ?? 'orders';
const AUTH = process.env.AUTH !== '0';
if (process.env.WARM_PIPELINE_CHILD === '1') {
  const root = process.argv[2];
  const dist = (p) => import(pathToFileURL(`${root}/dist/${p}`).href);
  const { default: pino } = await import(pathToFileURL(`${root}/node_modules/pino/pino.js`).href);
  const { startAuthServer } = await dist('cluster/cli/demo/auth-server.js');
  const { validateConfig } = await dist('node/config/index.js');
  const { createAuth } = await dist('node/auth/index.js');
  const { createPipeline } = await dist('node/pipeline/index.js');
  const { readingsOf, RouteTable } = await dist('node/routing/route-table.js');
  const { UpstreamPool } = await dist('node/upstream/upstream-pool.js');
  const { requestHead } = await dist('node/upstream/h1-request-head.js');
  const as = await startAuthServer({ algorithms: ['RS256'] });
  const r = validateConfig({
    issuers: { main: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: ['http://127.0.0.1:9'] } },
    routes: [
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const config = r.config;
  const log = pino({ level: 'silent' });
  const auth = createAuth(config, log);
  const upstreams = new Map(Object.entries(config.upstreams).map(([n, uc]) => [n, new UpstreamPool(n, uc)]));
  const routes = config.routes.map((rc, index) => ({ index, name: rc.name, config: rc, policy: auth.compilePolicy(rc) }));
  const snap = { version: 1, config, table: new RouteTable(routes, readingsOf(config.server.paths)), upstreams, auth: auth.stages, realm: 'portcullis', outbound: routes.map(() => null), wellKnown: null, policyLabel: 'x', policyHeader: null };
  const pipeline = createPipeline(snap, { logger: log });
  if (!(await auth.whenReady(10_000))) throw new Error('keys not loaded');
  const token = await as.issueJwt({ sub: 'user-1', scope: 'orders:read', client_id: 'bench-client', aud: 'portcullis-demo' });
  const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
  const POOL = 512;
  const auths = Array.from({ length: POOL }, () => fresh(`Bearer ${token}`));
  const path = ROUTE === 'open' ? '/open/x' : '/orders/x';
  const m = snap.table.resolve('GET', '127.0.0.1', path);
  let sink = 0;
  let denied = 0;
  const out = { closed: false, decision() {}, deny() { denied++; }, forward(req) { sink += requestHead('GET', req.path, req.headers, false, 0, ctx.checkedAuthorization ?? null).length; } };
  let ctx = null;
  const one = (i) => {
    const headers = AUTH ? ['host', fresh('127.0.0.1:8080'), 'user-agent', 'wrk', 'authorization', auths[i % POOL]] : ['host', fresh('127.0.0.1:8080'), 'user-agent', 'wrk'];
    ctx = { method: 'GET', path, query: '', host: '127.0.0.1', headers, remoteAddress: '127.0.0.1', secure: false, connection: null, route: m.route, params: m.params, token: null, tokenSource: null, tokenScheme: 'bearer', checkedAuthorization: null, principal: null, denyReason: null, responseHeaders: null, trace: null };
    pipeline.run(ctx, out);
  };
  one(0); // the first verification is a miss (inline or on the pool): settle it before timing
  await new Promise((res) => setTimeout(res, 500));
  one(1);
  if (denied > 0 || sink === 0) throw new Error('the warm request was not forwarded synchronously');
  printCpuPerRequest(one, N, () => sink);
  await auth.close();
  for (const u of upstreams.values()) u.destroy();
  await as.close();
  process.exit(0);
} else {
  const base = process.argv[2];
  const here = process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url));
  if (base === undefined) throw new Error('usage: node bench/micro/warm-pipeline.bench.mjs BASE_ROOT [ROOT]');
  pairedBuilds({ script: fileURLToPath(import.meta.url), childEnv: 'WARM_PIPELINE_CHILD', base, here, n: N, label: `ROUTE=${ROUTE}${AUTH ? '' : ' AUTH=0'}` });
}
