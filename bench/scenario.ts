// What a benchmark scenario is: the options it runs with and the report it hands back. Apart
// from the registry (scenarios.ts) so that a scenario need not import the list it is on.
import type { CpuPlan } from './cpu-plan.js';

export interface ScenarioOptions {
  /** Smoke-test run: shorter warmups; results are not accepted numbers. */
  quick: boolean;
  /** Rounds per measurement (targets alternate within each round): 3, quick 1. */
  rounds: number;
  /** Measured seconds per run: 5, quick 2. */
  durationS: number;
  /** Signing algorithm of the JWT scenarios: RS256 (default) or ES256 (env PORTCULLIS_BENCH_JWT_ALG). */
  jwtAlg: 'RS256' | 'ES256';
}

/** What a scenario hands back; run.ts adds the machine and writes it as JSON. */
export interface ScenarioReport {
  scenario: string;
  quick: boolean;
  /** Every flag the numbers depend on (connections, durations, rate, engine…). */
  flags: Record<string, unknown>;
  cpuPlan: CpuPlan;
  /** Peer versions, e.g. { haproxy: "2.6.12" }. */
  peers: Record<string, string>;
  /** Targets that could not run, with the reason. */
  skipped: Record<string, string>;
  /** Raw per-round results. */
  rounds: unknown;
  summary: unknown;
  /** Reasons not to trust this run (other processes busy, rate not reached…); empty when clean. */
  warnings: string[];
  /** Markdown, printed and pasted into bench/RESULTS.md. */
  table: string;
}

export interface Scenario {
  description: string;
  /** Runs only when named (it needs something set up first, e.g. another build): not part of "every scenario". */
  onlyByName?: boolean;
  run(opts: ScenarioOptions): Promise<ScenarioReport>;
}
