// Entry point of `portcullis bench [SCENARIO…] [--quick] [--record]`: runs scenarios one after
// another, prints the machine line and each scenario's table, writes one JSON file per scenario.
import { machineInfo, machineLine, toolVersions, type MachineInfo } from './machine.js';
import { resultsDirFor } from './paths.js';
import { writeResults } from './results.js';
import { scenarios, type ScenarioOptions, type ScenarioReport } from './scenarios.js';

export interface BenchOptions {
  /** 1 round of 2 s per measurement (smoke tests). */
  quick?: boolean;
  /** Rounds per measurement; default 3 (quick 1), or env PORTCULLIS_BENCH_ROUNDS. */
  rounds?: number;
  /** Measured seconds per run; default 5 (quick 2), or env PORTCULLIS_BENCH_DURATION_S. */
  durationS?: number;
  /** Signing algorithm of the JWT scenarios; default env PORTCULLIS_BENCH_JWT_ALG, else RS256. */
  jwtAlg?: 'RS256' | 'ES256';
  /** Write the JSON to bench/results (numbers meant for bench/RESULTS.md); default false: bench/results/local (git-ignored). Not with quick. */
  record?: boolean;
  /** Where JSON goes, overriding `record`. */
  resultsDir?: string;
}

export interface BenchOutcome {
  scenario: string;
  /** JSON file written. */
  file: string;
  machine: MachineInfo;
  report: ScenarioReport;
}

/** Names to run: all registered ones (except those run only by name) when none is given; throws listing the known names on an unknown one. */
export function resolveScenarios(names: readonly string[]): string[] {
  const known = Object.keys(scenarios);
  if (names.length === 0) return known.filter((n) => scenarios[n]!.onlyByName !== true);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new Error(`unknown bench scenario${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${known.join(', ')}`);
  return [...new Set(names)];
}

function positiveInt(name: string, v: string | number | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be an integer ≥ 1, got ${JSON.stringify(v)}`);
  return n;
}

function jwtAlg(v: string | undefined): ScenarioOptions['jwtAlg'] {
  if (v === undefined || v === '') return 'RS256';
  if (v === 'RS256' || v === 'ES256') return v;
  throw new Error(`PORTCULLIS_BENCH_JWT_ALG must be RS256 or ES256, got ${JSON.stringify(v)}`);
}

/** Rounds and duration: explicit option, else environment, else the default (3 × 5 s; quick 1 × 2 s). JWT alg: option, env, RS256. */
export function scenarioOptions(opts: BenchOptions, env: NodeJS.ProcessEnv = process.env): ScenarioOptions {
  const quick = opts.quick === true;
  return {
    quick,
    rounds: positiveInt('rounds', opts.rounds) ?? positiveInt('PORTCULLIS_BENCH_ROUNDS', env.PORTCULLIS_BENCH_ROUNDS) ?? (quick ? 1 : 3),
    durationS: positiveInt('durationS', opts.durationS) ?? positiveInt('PORTCULLIS_BENCH_DURATION_S', env.PORTCULLIS_BENCH_DURATION_S) ?? (quick ? 2 : 5),
    jwtAlg: opts.jwtAlg ?? jwtAlg(env.PORTCULLIS_BENCH_JWT_ALG),
  };
}

/** Run `names` (all when empty) in order; resolves with what each wrote. A scenario that throws stops the run. */
export async function runBench(names: string[], opts: BenchOptions = {}): Promise<BenchOutcome[]> {
  const sopts = scenarioOptions(opts);
  const quick = sopts.quick;
  const selected = resolveScenarios(names);
  if (quick && opts.record === true) throw new Error('record: a quick run is a smoke test, not numbers to record');
  const dir = opts.resultsDir ?? resultsDirFor({ quick, record: opts.record === true });
  const out: BenchOutcome[] = [];
  for (const name of selected) {
    const machine = machineInfo();
    process.stdout.write(`\n## ${name}${quick ? ' (quick)' : ''}\n${machineLine(machine)}\n\n`);
    const report = await scenarios[name]!.run(sopts);
    const file = writeResults(name, { machine, tools: toolVersions(), ...report }, { dir, date: new Date(machine.date) });
    process.stdout.write(`\n${report.table}\n\nCPU split: ${report.cpuPlan.note}\nresults: ${file}\n`);
    out.push({ scenario: name, file, machine, report });
  }
  return out;
}
