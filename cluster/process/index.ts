// Public surface of cluster/process: how the processes of one host are run — a single
// instance, or the node:cluster supervisor (primary) and its workers with all-or-nothing
// reloads — and the wiring of each instance to its cluster member.
export { startMember, type MemberWiring } from './member-wiring.js';
export { auditedReloadSingle, reloadSingle, runInstance, type ClusterPolicy } from './run-instance.js';
export { runWorker } from './worker-main.js';
export { runStopSteps, type StopOutcome, type StopProgress, type StopRun, type StopStep, type StopWatch } from './stop-steps.js';
export { ephemeralLow, freePort, portForWorkers } from './worker-port.js';
export { Supervisor, type PrimaryMessage, type WorkerMessage } from './supervisor.js';
export { restartDelayMs, RESTART_BACKOFF_MS, STABLE_RUN_MS, UNRESTORABLE_AFTER, type IssuerReadiness } from './worker-slots.js';
export {
  coordinateReload, RELOAD_ANSWER_TIMEOUT_MS, requestBootConfig, workerReloadHandler,
  type ReloadMessage, type ReloadOutcome, type ReloadReply, type ReloadSteps,
} from './worker-reload.js';
