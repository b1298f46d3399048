// Micro-measure (not a test): what `portcullis policy push` costs the CLI for a large policy, phase by
// phase, in a fresh process as the CLI runs it once — parse the YAML text, validate it with the local
// part (preparePolicy), digest (newEntry), gzip + seal — and what a member's check of that version
// costs (checkVersion: gunzip, parse, digest, validation, environment; here on this thread). Two
// shapes: ROUTES routes (as test/integration/cluster/policy-large.test.ts pushes them, YAML as an
// operator writes it; then as JSON, as a generator or POST /policy sends it) and a policy whose
// `upstreams` mapping holds KEYS entries (a multi-tenant one).
// Build first: `npx tsc -p tsconfig.json`, then `node bench/micro/policy-push.bench.mjs`
// (env ROUTES, default 10000; KEYS, default 30000; DIST, default ../../dist: another build to compare).
// Only the first runs cold, as in the CLI (ONLY=routes|upstreams|json: that one alone).
import { stringify } from 'yaml';

const DIST = process.env.DIST ?? new URL('../../dist/', import.meta.url).pathname;
const { checkVersion, newEntry, parseYaml, preparePolicy, sealEntry } = await import(`${DIST}/cluster/policy/index.js`);
const ROUTES = Number(process.env.ROUTES ?? 10_000);
const KEYS = Number(process.env.KEYS ?? 30_000);
const local = {
  server: { listen: { host: '127.0.0.1', port: 0 } },
  admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_BENCH_ADMIN_TOKEN' },
  cluster: { nats: { servers: ['nats://127.0.0.1:4222'] }, subject_prefix: 'micro', auth: { key_env: 'PORTCULLIS_BENCH_BUS_KEY' }, policy: { source: 'cluster' } },
  log: { level: 'info', access: false },
};
process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x'.repeat(40);
process.env.PORTCULLIS_BENCH_BUS_KEY ??= 'y'.repeat(48);

/** CPU ms of `f` (this thread and the process's GC helpers) and its result. */
function cpu(f) {
  const c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  return [r, +((c.user + c.system) / 1000).toFixed(0)];
}

function routesPolicy(n) {
  const routes = [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }, { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' }];
  for (let i = routes.length; i < n; i++) routes.push({ name: `gen-${i}`, match: { path: `/gen/r${i}/:id`, methods: ['GET'] }, upstream: 'app', auth: { scopes: { any: [`s${i}`] } } });
  return { issuers: { demo: { issuer: 'http://127.0.0.1:1', audiences: ['portcullis-demo'] } }, upstreams: { app: { targets: ['http://127.0.0.1:2'] } }, routes, verifier: { pool_size: 1 } };
}

function upstreamsPolicy(k) {
  const upstreams = {};
  for (let i = 0; i < k; i++) upstreams[`t${i}`] = { targets: [`http://127.0.0.1:${1000 + (i % 60_000)}`] };
  return { upstreams, routes: [{ name: 'all', match: { path: '/*' }, upstream: 't0', auth: 'none' }] };
}

function measure(shape, doc, json = false) {
  const text = json ? JSON.stringify(doc) : stringify(doc);
  const [p, parse] = cpu(() => parseYaml(text));
  if (!p.ok) throw new Error(JSON.stringify(p.errors.slice(0, 3)));
  const [r, prepare] = cpu(() => preparePolicy(local, p.raw));
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  const [e, digest] = cpu(() => newEntry(r.policy, 2, 1, 'micro'));
  const [bytes, seal] = cpu(() => sealEntry(e, 'B', null));
  const [c, check] = cpu(() => checkVersion(local, bytes, process.env));
  if (c.kind !== 'entry' || !c.verdict.ok) throw new Error(`member check refused: ${JSON.stringify(c.kind === 'entry' ? c.verdict : c)}`);
  console.log(JSON.stringify({ shape, text: json ? 'JSON' : 'YAML', bytes: text.length, cli_cpu_ms: { parse, prepare, digest, seal, total: parse + prepare + digest + seal }, member_check_cpu_ms: check }));
}

const ONLY = process.env.ONLY; // routes | upstreams | json: one shape, cold
if (ONLY === undefined || ONLY === 'routes') measure(`${ROUTES} routes`, routesPolicy(ROUTES));
if (ONLY === undefined || ONLY === 'upstreams') measure(`${KEYS} upstreams`, upstreamsPolicy(KEYS));
if (ONLY === undefined || ONLY === 'json') measure(`${ROUTES} routes`, routesPolicy(ROUTES), true);
