// Scheduling priority of a bench's child processes (Linux): parse the
// `PORTCULLIS_BENCH_SCHED` spec (which role runs at which nice value or SCHED_FIFO priority)
// and apply it to every thread of a running process. Needs CAP_SYS_NICE for nice < 0 and FIFO.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** A process's scheduling: CFS nice value (−20…19) or SCHED_FIFO priority (1…99). */
export type SchedPolicy = { kind: 'nice'; value: number } | { kind: 'fifo'; priority: number };

/** Roles the cluster scenarios can re-prioritise (`bench`: the bench process itself — prober, POST sender, in-process subscriber). */
export const SCHED_ROLES = ['observer', 'nats', 'members', 'load', 'upstream', 'as', 'bench'] as const;
export type SchedRole = (typeof SCHED_ROLES)[number];

/**
 * Pure: `observer=nice:-10,nats=fifo:10` → role → policy. Empty or undefined: no change
 * (every process at the bench's own nice 0, SCHED_OTHER). Throws naming the bad entry.
 */
export function parseSchedSpec(spec: string | undefined): Map<SchedRole, SchedPolicy> {
  const out = new Map<SchedRole, SchedPolicy>();
  if (spec === undefined || spec.trim() === '') return out;
  for (const part of spec.split(',')) {
    const m = /^\s*([a-z]+)=(nice|fifo):(-?\d+)\s*$/.exec(part);
    const role = m?.[1] as SchedRole | undefined;
    if (m === null || role === undefined || !SCHED_ROLES.includes(role)) {
      throw new Error(`PORTCULLIS_BENCH_SCHED: "${part}" is not <role>=nice:<n>|fifo:<n> with role one of ${SCHED_ROLES.join(', ')}`);
    }
    const n = Number(m[3]);
    if (m[2] === 'nice' && (n < -20 || n > 19)) throw new Error(`PORTCULLIS_BENCH_SCHED: nice ${n} outside −20…19`);
    if (m[2] === 'fifo' && (n < 1 || n > 99)) throw new Error(`PORTCULLIS_BENCH_SCHED: fifo priority ${n} outside 1…99`);
    out.set(role, m[2] === 'nice' ? { kind: 'nice', value: n } : { kind: 'fifo', priority: n });
  }
  return out;
}

/** Pure: the spec back as text for the report ("default" when empty). */
export function schedLabel(spec: ReadonlyMap<SchedRole, SchedPolicy>): string {
  if (spec.size === 0) return 'default';
  return [...spec].map(([r, p]) => `${r}=${p.kind === 'nice' ? `nice:${p.value}` : `fifo:${p.priority}`}`).join(',');
}

/**
 * Apply `policy` to every current thread of `pid` (on Linux nice and policy are per thread;
 * threads created later inherit from their creator). Throws when the kernel refuses (no
 * CAP_SYS_NICE): a bench asked for a priority must not silently measure without it.
 */
export function applySched(pid: number, policy: SchedPolicy): void {
  if (policy.kind === 'fifo') {
    execFileSync('chrt', ['-a', '-f', '-p', String(policy.priority), String(pid)], { stdio: 'ignore' });
    return;
  }
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), policy.value);
}
