// The bench harness's public surface: processes, load generation, machine info, results,
// the HAProxy peer and the CPU split. Scenarios and tests import from here.
export { startProcess, jsonLine, freePort, waitForPort, cpuSeconds, machineBusySeconds, watchForeignCpu, pinSelf, pinnedCommand, hasTaskset, type ManagedProcess, type StartOptions } from './processes.js';
export { runLoad, runFixedRate, DEFAULT_LOAD_FLAGS, DEFAULT_FIXED_RATE_FLAGS, type LoadFlags, type FixedRateFlags, type FixedRateResult, type RateEngine, type SampleOptions } from './load.js';
export { machineInfo, machineLine, toolVersions, type MachineInfo } from './machine.js';
export { writeResults, resultFileName, markdownTable, cell, type Cell } from './results.js';
export { median, summarise, ratio, pairedRatio, pairedDiff, roundOrder, type LoadResult, type LoadSummary } from './stats.js';
export { HAPROXY_BIN, haproxyConfig, haproxyForwardforFromEnv, haproxyJwtRules, haproxyVersion, startHaproxy, type HaproxyConfigOptions, type HaproxyPeer, type JwtAlg, type JwtCheckOptions, type Skipped } from './haproxy.js';
export { cpuPlan, type CpuPlan } from './cpu-plan.js';
export { startUpstreamProcess, startPortcullis, passthroughConfigYaml, probe, PortcullisUnavailable, type RunningTarget } from './targets.js';
export { repoRoot, compiledRoot, cliPath, cheapUpstreamPath, resultsDir } from './paths.js';
