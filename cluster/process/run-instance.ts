// One proxy instance and its cluster member in this process: `serve` without workers, and
// each node:cluster worker. A start failure is reported to the primary (when there is one)
// and ends the process with exit 1; signals drain the instance when it owns the admin listener.
import { renewableTlsFiles, type Config } from '../../node/config/index.js';
import type { PolicyVersion } from '../../node/contracts/index.js';
import { ProxyInstance } from '../../node/instance.js';
import { logListening, logSettled, type Logger } from '../../node/log.js';
import { appliedPolicyRecord, appliedRevocationRecord, reloadRecord, type AuditActor } from '../../node/audit/index.js';
import type { ClusterRole } from '../index.js';
import { filePolicyRoutes, localPolicyRoutes, policyRoutes, reloadLocalPart, withLocalPartNow, withPolicyReadiness, type PolicyWatcher } from '../policy/index.js';
import { startMember, type MemberWiring } from './member-wiring.js';
import { runStopSteps, STOP_CLOSE_BOUND_MS, STOP_SLOW_MS, type StopProgress } from './stop-steps.js';
import { toPrimary } from '../transport/index.js';
import { ReloadCounts } from './reload-counts.js';
import { reloadNamingWriter } from './reload-writer-note.js';

/** The cluster member each running instance was started on (closed by stopInstance). */
const members = new WeakMap<ProxyInstance, { close(progress?: StopProgress): Promise<void> }>();

/** The stop under way per instance: a second signal, or the primary's message after a signal, waits for the same drain. */
const stopping = new WeakMap<ProxyInstance, Promise<boolean>>();

export { STOP_CLOSE_BOUND_MS, STOP_SLOW_MS } from './stop-steps.js';

/**
 * Graceful stop of an instance runInstance started: drain it (ProxyInstance.shutdown), then close
 * its cluster member — peers hear `member.left` at once rather than expiring it 3 heartbeats later.
 * Called again while it runs, the same stop (never a second one that would exit mid-drain).
 * Resolves true when every part stopped; false when one failed, or when closing after the drain ran
 * past STOP_CLOSE_BOUND_MS (logged with the part still running: the caller exits 1 instead of hanging).
 */
export function stopInstance(inst: ProxyInstance): Promise<boolean> {
  let p = stopping.get(inst);
  if (p === undefined) {
    const { shutdown_delay_ms: delayMs, drain_ms: drainMs } = inst.config.server.timeouts;
    let bound: NodeJS.Timeout | undefined;
    let gaveUp!: (v: false) => void;
    const late = new Promise<false>((resolve) => { gaveUp = resolve; });
    // armed by the first part after the drain: what is in flight has been answered by then
    const closing = (part: string): void => {
      if (bound !== undefined || part === 'shutdown delay' || part === 'drain') return;
      bound = setTimeout(() => {
        inst.logger.error({ part: run.current() }, `stop gave up: ${run.current() ?? 'a part'} still running ${STOP_CLOSE_BOUND_MS / 1000} s after the drain; exiting 1`);
        gaveUp(false);
      }, STOP_CLOSE_BOUND_MS);
    };
    const run = runStopSteps([
      { name: 'proxy', run: (progress) => inst.shutdown((part) => { progress(part); closing(part); }) },
      { name: 'cluster member', run: (progress) => { closing('cluster member'); return members.get(inst)?.close(progress); } },
    ], {
      slowMs: STOP_SLOW_MS,
      allowMs: (part) => (part === 'shutdown delay' ? delayMs : part === 'drain' ? drainMs : 0),
      report: (line) => inst.logger.warn(line),
    });
    p = Promise.race([run.done.then((o) => o.failed.length === 0), late]).finally(() => clearTimeout(bound));
    stopping.set(inst, p);
  }
  return p;
}

const STOPPING_RELOAD: ReturnType<ProxyInstance['reload']> = Object.freeze({ ok: false, errors: [{ path: '', message: 'the process is stopping: nothing reloaded' }] });

/** An instance whose policy comes from the cluster (cluster.policy.source: cluster). */
export interface ClusterPolicy { readonly watcher: PolicyWatcher; readonly raw: unknown }

/** Reload from the file; with cluster policy only its local part, the cluster's policy stays. */
/** File reloads each admin-serving instance decided (/metrics: portcullis_config_reloads_total). */
const fileReloads = new WeakMap<ProxyInstance, ReloadCounts>();

/** reloadSingle for a reload the admin API did not ask for (SIGHUP, --watch): its audit record names `actor`. */
export function auditedReloadSingle(inst: ProxyInstance, configPath: string, policy: ClusterPolicy | null, actor: AuditActor): ReturnType<ProxyInstance['reload']> {
  const before = inst.configVersion;
  // a process draining after SIGTERM/SIGINT applies no new config (as POST /reload answers 503 then)
  const r = stopping.has(inst) ? STOPPING_RELOAD : guardedReload(inst, configPath, policy);
  if (r === STOPPING_RELOAD) inst.logger.warn('reload not applied: the process is stopping (draining after SIGTERM/SIGINT)');
  inst.audit?.record(reloadRecord(actor, before, r));
  return r;
}

/**
 * reloadSingle, where an unexpected throw (a bug, not an invalid file: those come back as errors)
 * refuses the reload instead of ending the process — a SIGHUP or a file watch has no caller to
 * answer, and the running config keeps serving.
 */
function guardedReload(inst: ProxyInstance, configPath: string, policy: ClusterPolicy | null): ReturnType<ProxyInstance['reload']> {
  try {
    return reloadSingle(inst, configPath, policy);
  } catch (err) {
    inst.logger.error({ err: (err as Error).message }, 'reload refused: internal error, keeping the running config');
    fileReloads.get(inst)?.note(false);
    return { ok: false, errors: [{ path: '', message: 'internal error during the reload: the running config is kept' }] };
  }
}

/** Reload from the file (reloadFile), counted for /metrics. */
export function reloadSingle(inst: ProxyInstance, configPath: string, policy: ClusterPolicy | null): ReturnType<ProxyInstance['reload']> {
  const r = reloadFile(inst, configPath, policy);
  fileReloads.get(inst)?.note(r.ok);
  return r;
}

function reloadFile(inst: ProxyInstance, configPath: string, policy: ClusterPolicy | null): ReturnType<ProxyInstance['reload']> {
  if (policy === null) return inst.reloadFromFile();
  const r = reloadLocalPart(configPath, policy.watcher);
  if (!r.ok) { inst.logger.error({ errors: r.errors }, 'reload refused: config invalid, keeping the running config'); return r; }
  const out = inst.reload(r.config);
  // later cluster versions combine with this local part (not the start's, which would undo the reload)
  if (out.ok && r.raw !== undefined) policy.watcher.localRaw = r.raw;
  return out;
}
import type { WorkerMessage } from './supervisor.js';

/**
 * Start the member, then the instance on it. `admin`: this process serves the admin API and handles SIGTERM/SIGINT/SIGHUP itself.
 * `policyVersion`: the cluster policy version `config` carries when the primary owns the watcher (a worker); with `policy` it is the watcher's.
 * `policyHold`: in a worker, whether the primary's watcher holds auth routes now (with `policy` it is the watcher's own).
 * `started`: the config the primary started with, when `config` is a later one (a worker restarted after a reload).
 */
export async function runInstance(config: Config, configPath: string, logger: Logger, admin: boolean, role: ClusterRole, version = 1, policy: ClusterPolicy | null = null, policyVersion: PolicyVersion | null = null, policyHold: (() => boolean) | null = null, started: Config = config): Promise<ProxyInstance> {
  let inst: ProxyInstance;
  let member: MemberWiring | null = null;
  try {
    member = await startMember(config, logger, role, () => inst?.config ?? config);
    // without NATS, POST /policy applies a policy to this instance (as a reload would); with NATS it is refused
    const local = policy === null && admin
      ? config.cluster.nats === undefined
        ? localPolicyRoutes(configPath, () => inst.config, async (_t, c) => { const r = inst.reload(c); if (r.ok) await inst.afterSwap(); return r.ok ? { status: 200, body: { version: r.version, restart_required: r.restartRequired } } : { status: 422, body: { errors: r.errors } }; })
        : filePolicyRoutes(() => inst.config)
      : {};
    const tokenState = member.instance.tokenState;
    // a newer policy version waiting after a reconnect, or a policy unconfirmed past
    // fail_closed_after_ms, holds auth routes like a revocation catch-up
    const hold = policy !== null ? () => policy.watcher.catchingUp(member!.node.busConnected()) : policyHold;
    const held = tokenState == null || hold === null ? {} : { tokenState: { ...tokenState, gate: () => (hold() ? { ok: false as const, reason: 'catching_up' as const } : tokenState.gate()) } };
    // answered once a renewed certificate's replaced listen socket is closed (ProxyInstance.afterSwap)
    // the answer names a process still writing the file, and ends serve --watch's wait when applied (reload-writer-note.ts)
    const reloadRoute = { 'POST /reload': () => reloadNamingWriter([configPath, ...renewableTlsFiles(inst.config.server)], async () => { const r = reloadSingle(inst, configPath, policy); if (r.ok) await inst.afterSwap(); return r.ok ? { status: 200, body: { reloaded: true, version: r.version, restart_required: r.restartRequired } } : { status: 422, body: { reloaded: false, errors: r.errors } }; }) };
    const wiring = policy === null ? { ...member.instance, ...held, adminRoutes: { ...member.instance.adminRoutes, ...local, ...(admin ? reloadRoute : {}) } } : {
      ...member.instance,
      ...held,
      cluster: withPolicyReadiness(member.instance.cluster, policy.watcher, () => member!.node.busConnected()),
      adminRoutes: {
        ...member.instance.adminRoutes, ...policyRoutes(policy.watcher, member.node.memberId, () => member!.node.membership.all()),
        ...reloadRoute,
      },
    };
    const active = policy?.watcher.current() ?? null;
    inst = await ProxyInstance.start({ config, started, configPath, logger, admin, sharedPort: role === 'worker', version, policy: active !== null ? { version: active.version, digest: active.digest } : policyVersion, ...wiring });
    // the process serving the admin API keeps the audit trail, revocations from other members included
    const audit = inst.audit;
    if (audit !== null) member.node.revocationActor.onApplied = (r) => audit.recordSoon(appliedRevocationRecord(r));
    if (policy !== null) {
      // this member's heartbeats carry its policy status (`policy status`, peers' GET /policy)
      policy.watcher.attachMember(member.node.membership);
      const running = inst;
      policy.watcher.setApplier(async (c, e, checkedWith) => {
        const before = policy.watcher.current()?.version ?? null;
        // reload() in its two steps, timed (the watcher logs where a version's time went); the
        // environment was checked on the validation thread a moment ago; a large policy's routes
        // compile in slices between requests, the swap is still one step
        const t0 = performance.now();
        const v = { version: e.version, digest: e.digest };
        let p = await running.prepareYielding(c, v, true);
        // a file reload committed during the check or the slices: this version with its local part (not undo it)
        if (policy.watcher.localRaw !== checkedWith) {
          if (p.ok) running.discard(p.prepared);
          const again = withLocalPartNow(policy.watcher, e, c, checkedWith);
          p = again.ok ? running.prepare(again.config, undefined, v) : again;
        }
        const t1 = performance.now();
        if (p.ok) running.commit(p.prepared);
        const t2 = performance.now();
        running.audit?.record(appliedPolicyRecord(e, before, p.ok ? { ok: true } : { ok: false, errors: p.errors }));
        // reported applied (heartbeat, `policy status`) once a renewed certificate's old listen socket is closed
        if (p.ok) await running.afterSwap();
        return p.ok ? { ok: true, timings: { prepare_ms: Math.round((t1 - t0) * 10) / 10, commit_ms: Math.round((t2 - t1) * 10) / 10 } } : p;
      });
      running.metrics.addSource(() => policy.watcher.stats());
    }
  } catch (err) {
    void member?.node.close();
    const message = (err as Error).message ?? String(err);
    toPrimary({ type: 'worker.boot_failed', message } satisfies WorkerMessage);
    logger.fatal({ err: message }, 'start failed');
    void logSettled(logger).then(() => process.exit(1));
    throw err;
  }
  members.set(inst, member.node);
  if (admin) { const counts = new ReloadCounts(); fileReloads.set(inst, counts); inst.metrics.addSource(() => counts.values()); }
  const stop = (): void => {
    // a second SIGTERM/SIGINT skips the rest of shutdown_delay_ms: the drain begins now (README: Signals)
    if (stopping.has(inst)) { inst.endShutdownDelay(); return; }
    // exit once no log write is in flight: one still in flight at exit lost the rest of its lines
    void stopInstance(inst).then((clean) => {
      if (clean) logger.info('stopped');
      else logger.error('stopped, but a part of the stop failed or hung (logged above): exit 1');
      return logSettled(logger).then(() => process.exit(clean ? 0 : 1));
    });
  };
  if (admin) {
    logListening(logger, { port: inst.port, adminPort: inst.adminPort, ...(inst.http2Port !== 0 ? { http2Port: inst.http2Port } : {}) });
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => { auditedReloadSingle(inst, configPath, policy, { kind: 'signal', signal: 'SIGHUP' }); });
  }
  return inst;
}
