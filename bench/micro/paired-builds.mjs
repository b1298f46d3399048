// The parent side of the per-build micro benches (token-scan, warm-token): run the same child
// script against two built trees in their own processes, alternating which goes first, and print
// the CPU µs per request of each round and the median saved; and the child side's timing loop.
import { execFileSync } from 'node:child_process';

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/**
 * `script` run as a child with `childEnv` set and a build root as its one argument must print
 * `{ usPerReq }`. ROUNDS (env, default 6) rounds; `label` goes on the table's header line.
 */
export function pairedBuilds({ script, childEnv, base, here, n, label = '' }) {
  const rounds = Number(process.env.ROUNDS ?? 6);
  const run = (root) => JSON.parse(execFileSync(process.execPath, [script, root], { env: { ...process.env, [childEnv]: '1' } }).toString()).usPerReq;
  const rows = [];
  for (let r = 0; r < rounds; r++) {
    let a, b;
    if (r % 2 === 0) { a = run(base); b = run(here); } else { b = run(here); a = run(base); }
    rows.push({ base: a, here: b, diff: a - b });
  }
  console.log(`| round | base µs/req | this µs/req | saved |${label === '' ? '' : `  (${label})`}\n|---|---:|---:|---:|`);
  rows.forEach((x, i) => console.log(`| ${i + 1} | ${x.base.toFixed(3)} | ${x.here.toFixed(3)} | ${x.diff.toFixed(3)} |`));
  console.log(`median saved per request: ${median(rows.map((x) => x.diff)).toFixed(3)} µs (base ${base}, this ${here}, N=${n} per run)`);
}

/** Child side: warm `one` up (50 000 calls), then print `{ usPerReq, sink }` — process CPU per call over `n` calls. */
export function printCpuPerRequest(one, n, sink) {
  for (let i = 0; i < 50_000; i++) one(i);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) one(i);
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ usPerReq: (c.user + c.system) / n, sink: sink() }));
}
