// Micro-measure (not a test): RouteTable.resolve() per request against tables of 3 to 10 000 routes of a
// multi-tenant shape (literal tenant prefixes, `:param` segments, trailing `*`, host-specific and method-specific
// routes, `other_methods: refuse`), every reading checked; for up to three builds imported into ONE process and
// timed paired (per round, per case, each build in turn, order rotating), median ns per resolve() over ROUNDS rounds.
// Build first, then `taskset -c 1 node bench/micro/route-lookup.bench.mjs OLD_ROOT [NOW_ROOT] [ROOT]` (ROOT: this
// tree). `node --cpu-prof bench/micro/route-lookup.bench.mjs ROOT ROOT` profiles one build.
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const N = Number(process.env.N ?? 20_000);
const SIZES = (process.env.SIZES ?? '3,8,10,100,1000,10000').split(',').map(Number);
const roots = process.argv.slice(2);
if (roots.length === 0) throw new Error('usage: node bench/micro/route-lookup.bench.mjs OLD_ROOT [NOW_ROOT] [ROOT]');
if (roots.length < 3) roots.push(fileURLToPath(new URL('../..', import.meta.url)));
const builds = await Promise.all(roots.map(async (root) => (await import(pathToFileURL(`${root}/dist/node/routing/route-table.js`).href)).RouteTable));

/** Route k of a table: five shapes per tenant, cycling; the table's last tenant is the one the hit asks for. */
function routeConfig(k) {
  const t = `t${Math.floor(k / 5)}`;
  switch (k % 5) {
    case 0: return { match: { path: `/${t}/api/*` } };
    case 1: return { match: { path: `/${t}/orders/:id`, methods: ['GET', 'PUT'] }, ...(k % 2 ? { other_methods: 'refuse' } : {}) };
    case 2: return { match: { path: `/${t}/orders/:id/items/:item`, methods: ['GET'] } };
    case 3: return { match: { path: `/${t}/admin/*`, host: `${t}.admin.example.com` } };
    default: return { match: { path: `/${t}/static/*`, host: '*.cdn.example.com', methods: ['GET'] }, other_methods: 'refuse' };
  }
}
function tableOf(RouteTable, size) {
  const routes = Array.from({ length: size }, (_, index) => {
    const name = `r${index}`;
    return { index, name, policy: null, config: { name, upstream: 'app', auth: 'none', forward: { authorization: 'keep' }, ...routeConfig(index) } };
  });
  return new RouteTable(routes, { allowParams: false, refuse: ['case', 'trailing_slash', 'trailing_dot', 'segment_spaces'] });
}
/** [label, method, host, path] per table size: the last tenant's wildcard route (last in rank order among its peers), a miss, a path the case and trailing-slash readings apply to (four lookups that agree). */
const cases = (size) => {
  const t = `t${Math.floor((size - 1) / 5)}`;
  return [
    ['hit, last tenant /api/*', 'GET', 'gw.example.com', `/${t}/api/v2/report`],
    ['miss', 'GET', 'gw.example.com', '/nowhere/v1/x'],
    ['case + slash readings', 'GET', 'gw.example.com', `/${t}/api/V2/Report/`],
  ];
};
let sink = 0;
function time(table, [, method, host, path], n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { const m = table.resolve(method, host, path); sink += m === null ? 1 : typeof m === 'string' ? 2 : 3; }
  return Number(process.hrtime.bigint() - t0) / n;
}
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`route-lookup: Node ${process.version}, ${ROUNDS} rounds × ${N} resolve() per build and case (fewer for big tables of the slow build)`);
console.log(`| routes | request | ${roots.map((r) => `${r} ns`).join(' | ')} |\n|---:|---|${roots.map(() => '---:').join('|')}|`);
for (const size of SIZES) {
  const tables = builds.map((B) => tableOf(B, size));
  const n = Math.max(500, Math.min(N, Math.floor(N * 100 / size)));
  for (const c of cases(size)) {
    const answers = tables.map((t) => { const m = t.resolve(c[1], c[2], c[3]); return m === null || typeof m === 'string' ? String(m) : m.route?.name ?? `refused ${m.refusedBy}`; });
    if (new Set(answers).size !== 1) throw new Error(`builds disagree on ${c[0]} at ${size} routes: ${answers.join(' / ')}`);
    for (const t of tables) time(t, c, n); // warm
    const samples = builds.map(() => []);
    for (let r = 0; r < ROUNDS; r++) for (let j = 0; j < builds.length; j++) { const b = (j + r) % builds.length; samples[b].push(time(tables[b], c, n)); }
    console.log(`| ${size} | ${c[0]} → ${answers[0]} | ${samples.map((s) => median(s).toFixed(0)).join(' | ')} |`);
  }
}
console.log(`median ns per resolve() (sink ${sink % 10})`);
