// Differential probe (not a test): the same random and adversarial (route table, request) corpus through two
// builds' dist RouteTable — resolve(), match() and passedOver() — reporting every request they answer differently.
// Build both, then `node bench/micro/route-lookup-diff.mjs OLD_ROOT [NEW_ROOT]` (NEW_ROOT: this tree); SEED, TABLES.
import { fileURLToPath, pathToFileURL } from 'node:url';

const [oldRoot, newRoot = fileURLToPath(new URL('../..', import.meta.url))] = process.argv.slice(2);
if (oldRoot === undefined) throw new Error('usage: node bench/micro/route-lookup-diff.mjs OLD_ROOT [NEW_ROOT]');
const load = async (root) => (await import(pathToFileURL(`${root}/dist/node/routing/route-table.js`).href)).RouteTable;
const [Old, New] = [await load(oldRoot), await load(newRoot)];

let seed = Number(process.env.SEED ?? 1);
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
const int = (n) => Math.floor(rnd() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rnd() < p;

const HOSTS = ['a.example.com', 'A.Example.com', 'b.example.com', '*.example.com', '*.a.example.com', '*.x.a.example.com', '*.com', 'example.com'];
const LITS = ['t1', 'T1', 'api', 'Api', 'API', 'v1', 'v1.', 'a.b', 'x', 'k', 's', 'i', 'orders', '~u', '-', '_'];
const METHOD_LISTS = [['GET'], ['POST'], ['GET', 'PUT'], ['DELETE'], ['TRACE'], ['get', 'post'], ['OPTIONS', 'PATCH'], ['HEAD']];
/** An adversarial pattern: literals of mixed case, params, a trailing `*` or '/', up to `depth` segments. */
function adversarialPattern(depth) {
  const segs = Array.from({ length: int(depth + 1) }, (_, i) => (chance(0.3) ? `:p${i}` : pick(LITS)));
  const end = pick(['', '', '/*', '/']);
  const p = ('/' + segs.join('/') + end).replace(/^\/\//, '/');
  return p === '//*' ? '/*' : p;
}
function route(index, match, refuse) {
  const name = `r${index}`;
  return { index, name, policy: null, config: Object.freeze({ name, upstream: 'app', auth: 'none', forward: { authorization: 'keep' }, match: Object.freeze(match), ...(refuse && match.methods ? { other_methods: 'refuse' } : {}) }) };
}
function adversarialTable(n) {
  return Array.from({ length: n }, (_, i) => {
    const m = { path: adversarialPattern(int(4) + (chance(0.05) ? 12 : 0)) };
    if (chance(0.4)) m.methods = pick(METHOD_LISTS);
    if (chance(0.4)) m.host = pick(HOSTS);
    return route(i, m, chance(0.5));
  });
}
/** Tenants as operators write them: a prefix per tenant, params, wildcards, per-tenant and wildcard hosts, method splits of one path. */
function tenantTable(n) {
  const out = [];
  for (let k = 0; out.length < n; k++) {
    const t = `t${k}`, shapes = [
      { path: `/${t}/api/*` }, { path: `/${t}/orders/:id`, methods: ['GET', 'PUT'] }, { path: `/${t}/orders/:id`, methods: ['DELETE'] },
      { path: `/${t}/orders/:id/items/:item`, methods: ['GET'] }, { path: `/${t}/admin/*`, host: `${t}.admin.example.com` },
      { path: `/${t}/static/*`, host: '*.cdn.example.com', methods: ['GET'] }, { path: `/${t}/Reports/` }, { path: `/${t}` },
      { path: `/:tenant/health`, methods: ['GET'] }, { path: '/*', host: `${t}.example.com` },
    ];
    for (const s of shapes) if (out.length < n && chance(0.8)) out.push(route(out.length, s, chance(0.5)));
  }
  return out;
}
const ODD = ['', '%20', 'v1.', 'K', 'İ', 'ı', 'ſ', 'ｔ１', 'ＡＰＩ', 'a%20', '%20a', '.', 'x;p=1', 'T1', 'API', 'Orders', 'reports'];
/** A request near a route of the table (case flips, lookalikes, trailing '/' '.' '%20', extra or missing segments), else random. */
function request(routes) {
  const r = pick(routes).config;
  let segs = r.match.path.split('/').slice(1).filter((s) => s !== '*').map((s) => (s.startsWith(':') ? pick(['42', '', 'v1.', 'İd', 'a%20']) : s));
  segs = segs.map((s) => {
    if (chance(0.15)) return s.toUpperCase();
    if (chance(0.1)) return s.replace(/[a-z]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)); // fullwidth
    if (chance(0.05)) return s.replace(/i/, pick(['İ', 'ı'])).replace(/s/, 'ſ').replace(/k/, 'K');
    return s;
  });
  if (chance(0.3)) segs.push(...Array.from({ length: int(3) + 1 }, () => pick([...ODD, ...LITS])));
  if (chance(0.1)) segs.pop();
  if (chance(0.02)) segs.push(...Array.from({ length: 500 }, () => pick(LITS)));
  let path = '/' + segs.join('/');
  path += pick(['', '', '', '/', '.', '%20', '//']);
  if (chance(0.1)) path = '/' + Array.from({ length: int(6) }, () => pick([...ODD, ...LITS])).join('/');
  const listed = r.match.methods;
  const method = listed !== undefined && chance(0.5) ? pick(listed).toUpperCase() : pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'TRACK', 'CONNECT', 'get', 'FOO']);
  const hostOf = r.match.host?.replace('*', pick(['w', 'y.w', ''])).toLowerCase();
  const host = hostOf !== undefined && chance(0.6) ? hostOf : pick(['gw.example.com', 'a.example.com', 'x.a.example.com', 'y.x.a.example.com', 'example.com', '.example.com', 'img.cdn.example.com', 't3.admin.example.com', 't1.example.com', '', 'other.org']);
  return [method, host, path];
}
const READINGS = ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'];
const plain = (m) => (m === null || typeof m === 'string' ? m : 'route' in m ? { route: m.route.name, params: m.params } : { ...m });
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const tables = Number(process.env.TABLES ?? 60);
let asked = 0, differ = 0, indexedTables = 0;
const kinds = { route: 0, params: 0, none: 0, ambiguous: 0, refused: 0 };
for (let t = 0; t < tables; t++) {
  const size = pick([17, 20, 48, 200, 1000, 5000]);
  const routes = t % 2 === 0 ? adversarialTable(size) : tenantTable(size);
  const readings = { allowParams: chance(0.3), refuse: READINGS.filter(() => chance(0.6)) };
  const a = new Old(routes, readings), b = new New(routes, readings);
  if (size > 16) indexedTables++;
  for (let q = 0; q < 2000; q++) {
    const [method, host, path] = request(routes);
    asked++;
    const ra = plain(a.resolve(method, host, path)), rb = plain(b.resolve(method, host, path));
    kinds[rb === null ? 'none' : typeof rb === 'string' ? 'ambiguous' : 'route' in rb ? 'route' : 'refused']++;
    if (rb !== null && typeof rb === 'object' && rb.params) kinds.params++;
    const ma = plain(a.match(method, host, path)), mb = plain(b.match(method, host, path));
    const pa = q % 20 === 0 ? a.passedOver(['GET', 'POST', 'DELETE'], host, path).map((x) => [x.method, x.from.name, x.to.name]) : null;
    const pb = q % 20 === 0 ? b.passedOver(['GET', 'POST', 'DELETE'], host, path).map((x) => [x.method, x.from.name, x.to.name]) : null;
    if (!same(ra, rb) || !same(ma, mb) || !same(pa, pb)) {
      if (++differ <= 10) console.log(JSON.stringify({ size, readings, method, host, path: path.slice(0, 200), old: [ra, ma, pa], new: [rb, mb, pb] }));
    }
  }
}
console.log(`route-lookup-diff: ${tables} tables (${indexedTables} indexed), ${asked} requests, ${differ} answered differently (seed ${process.env.SEED ?? 1}); new build's answers ${JSON.stringify(kinds)}`);
process.exitCode = differ === 0 ? 0 : 1;
