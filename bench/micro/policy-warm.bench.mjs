// Micro-measure (not a test): a fresh member's own work per pushed version, first pushes against
// the rest — what warming the check path at start buys. Versions are prepared in a child process
// (so nothing in the measuring process ran the validation before), then, as a member does: the
// start version checked once (checkVersionFor; plus warmCheck when the build has it), the
// instance started with it, and every next version checked, prepared and committed
// (ProxyInstance.prepareYielding + commit, as cluster/process/run-instance.ts applies one). Wall
// time per stage and process CPU time (all threads: robust on a shared machine) per version.
// Build first, then `node bench/micro/policy-warm.bench.mjs [ROOT]` (ROOT: another build's tree,
// e.g. a worktree of the base; env N versions, default 101; FILLERS routes, default 100).
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (process.env.NO_FLUSH === '1') (await import('node:v8')).setFlagsFromString('--no-flush-bytecode');
const root = process.argv[2] ?? fileURLToPath(new URL('../..', import.meta.url));
const dist = (p) => pathToFileURL(`${root}/dist/${p}`).href;
const N = Number(process.env.N ?? 101);
const FILLERS = Number(process.env.FILLERS ?? 100);
process.env.PORTCULLIS_BENCH_ADMIN_TOKEN ??= 'x'.repeat(40);
process.env.PORTCULLIS_BENCH_BUS_KEY ??= 'y'.repeat(48);

if (process.env.POLICY_WARM_GEN === '1') {
  const { newEntry, sealEntry } = await import(dist('cluster/policy/policy-messages.js'));
  const { preparePolicy } = await import(dist('cluster/policy/index.js'));
  const { localPart, policyFor } = await import(dist('bench/policy-propagation.bench.js'));
  const local = localPart('nats://127.0.0.1:4222', 'micro', 'micro-a');
  const out = [];
  for (let n = 1; n <= N; n++) {
    const p = preparePolicy(local, policyFor(n, 'http://127.0.0.1:1/', 8080, FILLERS));
    if (!p.ok) throw new Error(JSON.stringify(p.errors));
    out.push(Buffer.from(sealEntry(newEntry(p.policy, n, n - 1, 'micro'), 'B', null)).toString('base64'));
  }
  // exit only once the pipe took it all (process.exit would cut a large write short)
  process.stdout.write(JSON.stringify({ local, payloads: out }), () => process.exit(0));
  await new Promise(() => {});
}

const { local, payloads: b64 } = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), root], { env: { ...process.env, POLICY_WARM_GEN: '1' }, maxBuffer: 1 << 28 }).toString());
const payloads = b64.map((s) => new Uint8Array(Buffer.from(s, 'base64')));
const validate = await import(dist('cluster/policy/policy-validate.js'));
const { ProxyInstance } = await import(dist('node/instance.js'));
const { createLogger } = await import(dist('node/log.js'));
const logger = createLogger({ level: 'silent', format: 'json' });

const t0 = performance.now();
const first = await validate.checkVersionFor(local, payloads[0]);
if (first.kind !== 'entry' || !first.verdict.ok) throw new Error('start version refused');
const t1 = performance.now();
const mode = process.env.WARM_MODE ?? 'product';
if (mode === 'product' && typeof validate.warmCheck === 'function') console.error(JSON.stringify(await validate.warmCheck(local, payloads[0], ...(process.env.K ? [Number(process.env.K), 1e9] : []))));
if (mode === 'fresh') { const { RouteParseMemo, CanonicalRouteMemo, policyDigest } = await import(dist('node/config/index.js')); const { decodeEntry } = await import(dist('cluster/policy/policy-messages.js')); for (let k = 0; k < Number(process.env.K ?? 10); k++) { const d = decodeEntry(payloads[0]); policyDigest(d.entry.policy, new CanonicalRouteMemo()); validate.validatePolicy(local, d.entry.policy, process.env, new RouteParseMemo()); } }
if (process.env.SLEEP) await new Promise((r) => setTimeout(r, Number(process.env.SLEEP)));
// GCS=n: n full collections between start and the first push, as a member serving requests has
// (V8 flushes the bytecode — and drops the optimised code — of functions not run for a while)
if (Number(process.env.GCS ?? 0) > 0) {
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--expose-gc');
  const gc = (await import('node:vm')).runInNewContext('gc');
  for (let g = 0; g < Number(process.env.GCS); g++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
}
const t2 = performance.now();
const inst = await ProxyInstance.start({ config: first.verdict.config, logger, admin: false, policy: { version: 1, digest: first.entry.digest } });
const rows = [];
const marks = [];
for (let i = 1; i < payloads.length; i++) {
  if (i === 1 || i === 26 || i === 51) marks.push(Number(process.hrtime.bigint() / 1000n));
  const c0 = process.cpuUsage();
  const a = performance.now();
  const r = await validate.checkVersionFor(local, payloads[i]);
  const b = performance.now();
  const c1 = process.cpuUsage(c0);
  if (r.kind !== 'entry' || !r.verdict.ok) throw new Error(`version ${i + 1} refused`);
  const p = await inst.prepareYielding(r.verdict.config, { version: r.entry.version, digest: r.entry.digest }, true);
  if (!p.ok) throw new Error(`version ${i + 1} not prepared`);
  const c = performance.now();
  inst.commit(p.prepared);
  const d = performance.now();
  const c2 = process.cpuUsage(c0);
  rows.push({ check: b - a, prepare: c - b, commit: d - c, total: d - a, check_cpu: (c1.user + c1.system) / 1000, total_cpu: (c2.user + c2.system) / 1000 });
}
await inst.shutdown();
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const part = (rs) => Object.fromEntries(['check', 'prepare', 'commit', 'total', 'check_cpu', 'total_cpu'].map((k) => [k, { p50: +q(rs.map((r) => r[k]), 0.5).toFixed(2), p90: +q(rs.map((r) => r[k]), 0.9).toFixed(2), sum: +rs.reduce((s, r) => s + r[k], 0).toFixed(1) }]));
if (process.env.MARKS) console.error(JSON.stringify({ marks }));
console.log(JSON.stringify({ root, routes: FILLERS + 1, start_check_ms: +(t1 - t0).toFixed(1), warm_ms: +(t2 - t1).toFixed(1), first25: part(rows.slice(0, 25)), rest: part(rows.slice(25)) }));
