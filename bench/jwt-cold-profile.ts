// A Portcullis CPU profile (jwt-cold-account with PORTCULLIS_BENCH_CPU_PROF_DIR) split by what
// the time buys: crypto, node/jwt, pipeline, listener, upstream client, GC, native outside JS.
// `node dist/bench/jwt-cold-profile.js FILE.cpuprofile [CPU µs/req] [N]`: shares of busy time,
// and µs/req when the process's measured CPU per request is given (share × CPU; the profile
// samples the main thread only, so it fits inline mode, where no other thread verifies).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { selfTimes, selfTimeTable, type CpuProfile, type SelfTime } from './profile-top.js';
import { cell, markdownTable } from './results.js';

/** Native functions (no script URL) that are node:crypto work. */
const CRYPTO_NATIVE = new Set(['verifyOneShot', 'oneShotDigest', 'hash', 'Hash', 'digest', 'update', 'Verify', 'SignJob']);

/** Pure: the category of one self-time frame (`name (file:line)` or a bare native name). */
export function frameCategory(frame: string): string {
  if (frame === '(garbage collector)') return 'GC';
  if (frame === '(program)') return 'native outside JS (uWS, libuv, syscalls)';
  const m = /^(.*) \((.*):\d+\)$/.exec(frame);
  if (m === null) return CRYPTO_NATIVE.has(frame) ? 'crypto' : 'V8 builtins / native (JSON, Buffer, strings…)';
  const file = m[2]!;
  if (file.startsWith('node:internal/crypto')) return 'crypto';
  if (file.startsWith('node/jwt/')) return 'node/jwt';
  if (file.startsWith('node/auth/') || file.startsWith('node/pipeline/') || file.startsWith('node/contracts/')) return 'node/pipeline + auth';
  if (file.startsWith('node/http/')) return 'node/http (listener)';
  if (file.startsWith('node/upstream/')) return 'node/upstream';
  if (file.startsWith('node/') || file.startsWith('cluster/')) return 'node other';
  if (file.startsWith('node:')) return 'node core JS';
  return 'dependencies';
}

export interface CategoryRow { category: string; share: number; usPerReq: number | null }

/** Pure: busy time by category, largest first; µs/req = share × `cpuUsPerReq` when given. */
export function categories(rows: readonly SelfTime[], cpuUsPerReq: number | null): CategoryRow[] {
  const by = new Map<string, number>();
  for (const r of rows) by.set(frameCategory(r.frame), (by.get(frameCategory(r.frame)) ?? 0) + r.share);
  return [...by].map(([category, share]) => ({ category, share, usPerReq: cpuUsPerReq === null ? null : share * cpuUsPerReq })).sort((a, b) => b.share - a.share);
}

/** Pure: the categories as a markdown table. */
export function categoryTable(rows: readonly CategoryRow[]): string {
  return markdownTable(['category (self time)', '% of busy', 'µs/req'], rows.map((r) => [r.category, cell(r.share * 100, 1), cell(r.usPerReq, 1)]), [false, true, true]);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, cpu, n] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/jwt-cold-profile.js FILE.cpuprofile [CPU µs/req] [N]\n');
    process.exit(2);
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  process.stdout.write(categoryTable(categories(rows, cpu === undefined ? null : Number(cpu))) + '\n\n');
  const jwt = rows.filter((r) => ['node/jwt', 'crypto', 'V8 builtins / native (JSON, Buffer, strings…)'].includes(frameCategory(r.frame)));
  process.stdout.write(selfTimeTable(jwt, Number(n ?? 20)) + '\n');
}
