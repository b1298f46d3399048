// The scenario registry: name → what it measures and how to run it. `portcullis bench [NAME…]`
// runs the named ones (all when none is named) through bench/run.ts.
import type { CpuPlan } from './cpu-plan.js';
import { passthrough } from './passthrough.bench.js';

export interface ScenarioOptions {
  /** Smoke-test run: shorter warmups; results are not accepted numbers. */
  quick: boolean;
  /** Rounds per measurement (targets alternate within each round): 3, quick 1. */
  rounds: number;
  /** Measured seconds per run: 5, quick 2. */
  durationS: number;
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
  run(opts: ScenarioOptions): Promise<ScenarioReport>;
}

export const scenarios: Readonly<Record<string, Scenario>> = {
  passthrough: {
    description: 'no auth: direct upstream vs Portcullis vs HAProxy 2.6 — throughput, ratios, added latency at 2000 rps',
    run: passthrough,
  },
};
