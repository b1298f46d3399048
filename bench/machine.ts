// What a result was measured on: CPU, cores, memory, Node version, commit and date,
// printed beside every table and stored in every JSON (pino's habit).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, release, totalmem, type } from 'node:os';
import { repoRoot } from './paths.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  os: string;
  node: string;
  /** `git rev-parse --short HEAD`, "+dirty" when the tree has changes; "unknown" outside git. */
  commit: string;
  /** ISO 8601, UTC. */
  date: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo(now: Date = new Date()): MachineInfo {
  const head = git(['rev-parse', '--short', 'HEAD']);
  const dirty = head !== undefined && (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    commit: head === undefined ? 'unknown' : head + (dirty ? '+dirty' : ''),
    date: now.toISOString(),
  };
}

/** One line for the top of a printed table. */
export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel} · ${m.cores} cores · ${m.memGiB} GiB · ${m.os} · Node ${m.node} · commit ${m.commit} · ${m.date}`;
}

/** Versions of the load tools (autocannon, undici) the numbers were taken with. */
export function toolVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = {};
  for (const name of ['autocannon', 'undici']) {
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      out[name] = 'unknown';
    }
  }
  return out;
}
