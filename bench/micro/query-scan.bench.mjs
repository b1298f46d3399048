// Micro-measure (not a test): extract's query scan (queryTokens: access_token and the names other
// parsers read as it) over a corpus of query strings, for up to three builds imported into ONE
// process and timed paired: per round, per query, each build in turn (order rotating), median ns
// per extract call over ROUNDS rounds. Headers carry no credential, so the query scan is the work.
// Build first, then `taskset -c 1 node bench/micro/query-scan.bench.mjs OLD_ROOT [NOW_ROOT] [ROOT]`
// (ROOT: this tree). `node --cpu-prof bench/micro/query-scan.bench.mjs ROOT ROOT` profiles one build.
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const N = Number(process.env.N ?? 40_000);
const roots = process.argv.slice(2);
if (roots.length === 0) throw new Error('usage: node bench/micro/query-scan.bench.mjs OLD_ROOT [NOW_ROOT] [ROOT]');
if (roots.length < 3) roots.push(fileURLToPath(new URL('../..', import.meta.url)));
const builds = await Promise.all(roots.map(async (root) => (await import(pathToFileURL(`${root}/dist/node/pipeline/extract.js`).href)).extract));

const ids = Array.from({ length: 260 }, (_, i) => String(100000 + i * 37)).join(',');
const longPlain = `ids=${ids.slice(0, 1500)}&fields=name,price,stock,updated_at,category,vendor&sort=-updated_at&page=3&per_page=50&lang=en&currency=eur&include=images,variants&view=compact&tz=utc`;
const CORPUS = {
  'none': '',
  'short, %': 'q=caf%C3%A9&page=2',
  'utm 73 B, %': 'utm_source=newsletter&utm_medium=email&utm_campaign=spring%202026&ref=ab',
  'utm 70 B': 'utm_source=newsletter&utm_medium=email&utm_campaign=spring_2026&ref=ab',
  '1.8 KB': longPlain,
  '1.8 KB, % in values': longPlain.replace(/,/g, '%2C'),
  '1.8 KB, ACCESS in a value': `${longPlain}&role=ACCESS_ADMIN`,
  'base64url value 1.2 KB': `state=${Buffer.from(Array.from({ length: 900 }, (_, i) => (i * 7 + 3) & 255)).toString('base64url')}&page=2`,
  '% in names': 'filter%5Bstatus%5D=open&page%5Bsize%5D=20&sort=-created',
  'name has access': 'has_access=1&page=2',
  'access_token=…': 'page=2&access_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
  '1.8 KB, access_token last': `${longPlain}&access_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln`,
};
// a pool of distinct string objects with the same bytes per query, as uWS hands them over
const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
const POOL = 256;
const pools = Object.fromEntries(Object.entries(CORPUS).map(([k, q]) => [k, Array.from({ length: POOL }, () => fresh(q))]));
const headers = ['host', '127.0.0.1:8080', 'accept', '*/*', 'user-agent', 'wrk'];
const ctxOf = (query) => ({ method: 'GET', path: '/api/items', query, host: '127.0.0.1', headers, remoteAddress: '127.0.0.1', route: null, params: null, token: null, tokenSource: null, tokenScheme: 'bearer', checkedAuthorization: null, principal: null, denyReason: null, responseHeaders: null });
let sink = 0;
function time(extract, pool, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += extract(ctxOf(pool[i % POOL])).kind.length;
  return Number(process.hrtime.bigint() - t0) / n;
}
for (const pool of Object.values(pools)) for (const e of builds) time(e, pool, 20_000); // warm every build on every query
const samples = Object.fromEntries(Object.keys(CORPUS).map((k) => [k, builds.map(() => [])]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [k, pool] of Object.entries(pools)) {
    for (let j = 0; j < builds.length; j++) { const b = (j + r) % builds.length; samples[k][b].push(time(builds[b], pool, N)); }
  }
}
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`| query (length) | ${roots.map((r) => `${r} ns`).join(' | ')} |\n|---|${roots.map(() => '---:').join('|')}|`);
for (const [k, q] of Object.entries(CORPUS)) console.log(`| ${k} (${q.length}) | ${samples[k].map((s) => median(s).toFixed(0)).join(' | ')} |`);
console.log(`median ns per extract call, ${ROUNDS} rounds × ${N} calls per build and query (sink ${sink % 10})`);
