// The node:cluster primary for `serve --workers N`: forks N workers that all listen on
// the same port (uWS binds with SO_REUSEPORT), restarts workers that exit with capped
// backoff (only a failure during the process's first start stops it), reports a worker it
// cannot restore in /healthz, forwards SIGTERM, coordinates reloads (SIGHUP, POST /reload:
// every worker or none, worker-reload.ts), hosts the admin listener and aggregates
// /metrics over every worker; a worker whose loop stops turning is killed (worker-watchdog.ts).
import cluster, { type Worker } from 'node:cluster';
import { AdminServer, adminTokens, type AdminHandler } from '../../node/admin/admin-server.js';
import { waitingIssuers } from '../../node/auth/index.js';
import { readConfigText, renewableTlsFiles, restartOnlyChanges, type Config, type ConfigResult } from '../../node/config/index.js';
import { parseReloadText } from './reload-parse.js';
import { auditLineSink, logLinesDropped, logListening, logSettled, type Logger } from '../../node/log.js';
import { AuditLog, appliedRevocationRecord, reloadRecord, type AuditActor, type AuditRecord } from '../../node/audit/index.js';
import { mergeComponentValues } from '../../node/metrics/index.js';
import { WallOffsetWatch, type PolicyVersion } from '../../node/contracts/index.js';
import { ClusterNode } from '../index.js';
import { MetricsGather, primaryMemberValues, supervisorSeries } from './metrics-gather.js';
import { ReloadCounts } from './reload-counts.js';
import { reloadNamingWriter } from './reload-writer-note.js';
import { WorkerAdmin } from './worker-admin.js';
import { WorkerWatchdog } from './worker-watchdog.js';
import { coordinateReload, type ReloadMessage, type ReloadReply } from './worker-reload.js';
import { portForWorkers } from './worker-port.js';
import { runStopSteps, STOP_CLOSE_BOUND_MS, STOP_SLOW_MS } from './stop-steps.js';
import { exitDelayMs, issuerReadiness, markReady, slotHealth, unrestorable, UNRESTORABLE_AFTER, type IssuerReadiness, type Slot } from './worker-slots.js';

/** Messages between primary and workers (plain data over IPC). */
export type WorkerMessage =
  | { type: 'worker.ready'; port: number }
  | { type: 'worker.boot_failed'; message: string }
  /** Sent every 500 ms: the worker's own /readyz verdict (keys loaded, revocations replayed) and per-issuer readiness. */
  | { type: 'worker.status'; ready: boolean; issuers?: IssuerReadiness }
  | ReloadReply;
/** `policy.hold`: whether auth routes wait (503) for the cluster policy, sent on every change (the primary owns the watcher). */
/** `worker.shutdown` with `now`: the primary's second stop signal, the rest of shutdown_delay_ms is skipped. */
export type PrimaryMessage = ReloadMessage | { type: 'worker.shutdown'; now?: true } | { type: 'policy.hold'; on: boolean };

/** A forked worker's node options: the primary's, plus the young-generation floor (server.min_semi_space_mb, MB; 0: none; one given to node wins). */
export function workerExecArgv(own: readonly string[], minSemiSpaceMb: number): string[] {
  if (minSemiSpaceMb === 0 || own.some((a) => a.startsWith('--min-semi-space-size'))) return [...own];
  return [...own, `--min-semi-space-size=${minSemiSpaceMb}`];
}

export class Supervisor {
  private readonly slots: Slot[] = [];
  private admin: AdminServer | null = null;
  /** The audit trail of admin actions (the primary serves the admin API). */
  private audit: AuditLog | null = null;
  private stopping = false;
  private port = 0;
  /** Port of server.http2 shared by the workers; 0 = not configured. */
  private http2Port = 0;
  /** /metrics over the ready workers; a dead or silent one is left out after the gather's wait (a merely slow one still counts), never a failed scrape. */
  private readonly gatherer = new MetricsGather();
  private readonly workerAdmin = new WorkerAdmin();
  /** The clocks' least offset since start, handed to each worker forked (node/contracts/wall-offset.ts). */
  private readonly wallOffset = new WallOffsetWatch();
  /** A worker whose loop stopped turning (no status for 2 s) is not ready; after 30 s it is killed and restarted. */
  private readonly watchdog: WorkerWatchdog;
  private reloadsRunning = 0;
  private bootFailed = 0;
  /** True once every worker of the first start was ready: from then on every exit is restarted. */
  private started = false;
  private restartsTotal = 0;
  private node: ClusterNode | null = null;
  /** Version of the committed config: 1 at start, +1 per reload every worker committed. */
  private version = 1;
  /** The cluster policy version the committed config carries (null: single-file); set before start by the policy wiring. */
  policyVersion: PolicyVersion | null = null;
  private reloadSeq = 0;
  /** Reloads run one at a time (SIGHUP, --watch and POST /reload may overlap). */
  private reloading: Promise<unknown> = Promise.resolve();

  /** Cluster policy (cluster/policy): a file reload takes the file's local part with the active policy (the text workers get). */
  composeReload: (() => ConfigResult & { text?: string; raw?: unknown }) | null = null;
  /** Called with composeReload's result once every worker committed it (cluster policy: later versions combine with its local part). */
  onReloaded: ((r: { raw?: unknown }) => void) | null = null;
  /** More admin routes (GET/POST /policy). */
  extraAdminRoutes: Record<string, AdminHandler> = {};
  /** More readiness: ready only when it is too; its detail joins /readyz. */
  extraReadiness: (() => { ready: boolean; detail: Record<string, unknown> }) | null = null;
  /** Called with the primary's cluster member once it exists (cluster policy: its heartbeats carry the policy status). */
  onMember: ((node: ClusterNode) => void) | null = null;
  /** Cluster policy: do auth routes wait for the policy now (PolicyWatcher.catchingUp)? Workers are told on every change. */
  policyHold: (() => boolean) | null = null;
  private holdSent = false;
  /** More primary-side component values (`policy.version`…), exported through the family table (node/metrics) like a worker's. */
  extraStats: (() => Record<string, number>) | null = null;
  /** File reloads this primary decided (portcullis_config_reloads_total). */
  private readonly fileReloads = new ReloadCounts();

  /** The config (and its text) of the start: the fields read at start only keep its values in every worker (config/restart-only.ts). */
  private readonly startConfig: Config; private readonly startText: string;
  /** The committed config (what every worker runs). */
  get committedConfig(): Config { return this.config; }
  /** A SIGTERM/SIGINT stop has begun: nothing more is applied. */
  get isStopping(): boolean { return this.stopping; }

  /** The policy hold may have changed: when it did, every worker hears of it now (they serve; the primary decides). */
  policyHoldChanged(): void {
    const on = this.policyHold?.() ?? false;
    if (on === this.holdSent) return;
    this.holdSent = on;
    for (const s of this.slots) if (s.worker?.isConnected() === true) s.worker.send({ type: 'policy.hold', on } satisfies PrimaryMessage);
  }

  /** `configText`: the file's text as validated at start; workers boot from it (never from the file, which may have changed). */
  constructor(private config: Config, private configText: string, private readonly configPath: string, private readonly workers: number, private readonly logger: Logger) {
    this.startConfig = config; this.startText = configText;
    this.watchdog = new WorkerWatchdog(logger, () => this.stopping || this.reloadsRunning > 0, config.server.worker_silence_kill_ms);
  }

  async start(): Promise<void> {
    const cfg = this.config;
    // from the first fork on the primary must outlive its workers: a SIGTERM/SIGINT to it alone (tini, `kill PID`)
    // killed it at once, and a worker still booting crashed on its closed channel (EPIPE trace), exit 143/130
    process.on('SIGTERM', () => this.signalled());
    process.on('SIGINT', () => this.signalled());
    this.port = await portForWorkers(cfg.server.listen.host, cfg.server.listen.port).catch((err: Error) => { throw new Error(`server.listen: ${err.message}`); });
    // the hub must exist before workers connect to it (IPC mode); with NATS it is one more member
    this.node = await ClusterNode.start({ config: cfg, logger: this.logger, role: 'primary', current: () => this.config });
    const node = this.node;
    this.onMember?.(node);
    // the HTTP/2 listener too: workers share one port the primary chose (node:cluster hands them its connections)
    const h2 = cfg.server.http2?.listen;
    this.http2Port = h2 === undefined ? 0 : h2.port === 0 ? await portForWorkers(h2.host, 0) : h2.port;
    cluster.setupPrimary({ args: ['worker', '--config', this.configPath, '--port', String(this.port), ...(this.http2Port !== 0 ? ['--http2-port', String(this.http2Port)] : [])], execArgv: workerExecArgv(process.execArgv, cfg.server.min_semi_space_mb), silent: false });
    // the hold also ends or begins with time (timeouts, fail_closed_after_ms): look every 50 ms
    if (this.policyHold !== null) setInterval(() => this.policyHoldChanged(), 50).unref();
    for (let i = 0; i < this.workers; i++) {
      this.slots.push({ index: i, worker: null, ready: false, judging: false, issuers: null, failures: 0, readyAt: 0, lastExit: null });
      this.fork(this.slots[i]!);
    }
    this.watchdog.start();
    this.audit = AuditLog.open(cfg.log.audit, auditLineSink(this.logger));
    const audit = this.audit;
    node.revocationActor.onApplied = (r) => audit.recordSoon(appliedRevocationRecord(r));
    this.admin = new AdminServer({
      audit: this.audit,
      host: cfg.admin.listen.host,
      port: cfg.admin.listen.port,
      maxConnections: cfg.admin.max_connections,
      ...adminTokens(cfg.admin),
      logger: this.logger,
      readiness: () => {
        const ready = this.slots.filter((s) => s.ready && s.judging && this.watchdog.responsive(s.worker)).length;
        const silent = this.slots.filter((s) => s.ready && !this.watchdog.responsive(s.worker)).map((s) => s.index);
        const c = node.readiness();
        const issuers = issuerReadiness(this.slots, this.config);
        // as in one process: an issuer with introspection needs its endpoint, any other its keys;
        // `ready` is the workers' own verdict (an issuer a reload added does not hold it back)
        const keysLoaded = waitingIssuers(issuers).length === 0;
        const extra = this.extraReadiness?.() ?? { ready: true, detail: {} };
        return {
          ready: ready === this.slots.length && !this.stopping && c.ready && extra.ready,
          detail: {
            workers: this.slots.length, workers_ready: ready, keys_loaded: keysLoaded, issuers, issuers_waiting: waitingIssuers(issuers),
            draining: this.stopping, config_version: this.version, ...(silent.length > 0 ? { workers_silent: silent } : {}), ...c.detail, ...extra.detail,
          },
        };
      },
      health: () => slotHealth(this.slots),
      metrics: async () => {
        // the primary's own component values (cluster policy, snapshot writes) go into the workers' families
        const g = await this.gatherer.gather(this.slots.flatMap((s) => (s.ready && s.worker !== null ? [s.worker] : [])));
        const workers = mergeComponentValues(g.text, { ...this.extraStats?.(), ...this.audit?.stats(), ...primaryMemberValues(this.node?.stats()), ...this.fileReloads.values(), 'log.primary_lines_dropped': logLinesDropped() }, g.answered);
        return `${workers}${supervisorSeries({ restarts: this.restartsTotal, ready: this.slots.filter((s) => s.ready).length, unrestorable: this.unrestorable().length, unrestorableAfter: UNRESTORABLE_AFTER, reporting: g.answered })}`;
      },
      routes: {
        ...node.adminRoutes(() => this.config),
        ...this.extraAdminRoutes,
        ...this.workerAdmin.routes(() => this.slots.find((s) => s.ready && s.worker !== null)?.worker ?? null),
        // the answer names a process still writing the file, and ends serve --watch's wait when applied
        'POST /reload': async () => reloadNamingWriter([this.configPath, ...renewableTlsFiles(this.config.server)], () => this.reload()),
      },
    });
    await this.admin.listen();
    await this.waitReady();
    this.started = true;
    logListening(this.logger, { port: this.port, adminPort: this.admin.port, workers: this.workers, ...(this.http2Port !== 0 ? { http2Port: this.http2Port } : {}) });
    process.on('SIGHUP', () => void this.auditedReload({ kind: 'signal', signal: 'SIGHUP' }));
  }

  private waitReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = setInterval(() => {
        if (this.slots.every((s) => s.ready)) { clearInterval(check); resolve(); }
        if (this.bootFailed > 0 && this.slots.every((s) => s.ready || s.worker === null)) {
          clearInterval(check);
          reject(new Error('a worker failed at boot; not restarting it'));
        }
      }, 20);
    });
  }

  private fork(slot: Slot): void {
    if (this.stopping) return; // a stop during start: no worker after the stop waited for the others
    // the offset: a replacement forked while the wall clock is stepped forward keeps the clocks' offset known before it
    const w = cluster.fork({ PORTCULLIS_WORKER_INDEX: String(slot.index), PORTCULLIS_WORKER_COUNT: String(this.workers), ...this.wallOffset.env() }); // the count: verifier placement (node/jwt)
    slot.worker = w;
    slot.ready = false;
    slot.judging = false;
    slot.issuers = null;
    slot.readyAt = 0;
    this.gatherer.listen(w);
    this.workerAdmin.listen(w);
    w.on('message', (m: WorkerMessage) => {
      if (m === null || typeof m !== 'object') return;
      if (m.type === 'worker.ready') {
        markReady(slot);
        if (slot.failures >= UNRESTORABLE_AFTER) this.logger.warn({ worker: slot.index, failures: slot.failures }, 'worker restored');
      }
      else if (m.type === 'worker.config_request') { w.send({ type: 'config.boot', text: this.configText, start: this.startText, version: this.version, policy: this.policyVersion, hold: this.holdSent } satisfies PrimaryMessage); }
      else if (m.type === 'worker.status') { slot.judging = m.ready; if (m.issuers !== undefined) slot.issuers = m.issuers; }
      else if (m.type === 'worker.boot_failed') { this.logger.error({ worker: slot.index, error: m.message }, 'worker failed at boot'); }
      if (slot.ready) this.watchdog.heard(w);
    });
    w.on('exit', (code, signal) => {
      this.watchdog.forget(w);
      const wasReady = slot.ready;
      slot.ready = false;
      slot.worker = null;
      slot.lastExit = signal !== null ? `signal ${signal}` : `exit code ${code}`;
      if (this.stopping) return;
      if (!wasReady && !this.started) {
        // At the process's first start a boot failure is a bad config or environment:
        // restarting would loop, so the start fails (piscina's rule).
        this.bootFailed++;
        this.logger.error({ worker: slot.index, code, signal }, 'worker exited before it was ready at the first start; not restarting');
        if (this.slots.every((s) => s.worker === null)) void this.stop(1);
        return;
      }
      // Later, a replacement that dies while booting (killed, OOM, a transient failure) is
      // restarted like any crashed worker: giving up would leave the instance short of a
      // worker for good while /healthz still said 200.
      const delay = exitDelayMs(slot, wasReady);
      this.restartsTotal++;
      const fields = { worker: slot.index, code, signal, restart_in_ms: delay, failures_in_a_row: slot.failures };
      this.logger.warn(fields, wasReady ? 'worker died; restarting' : 'worker exited before it was ready; restarting');
      if (slot.failures === UNRESTORABLE_AFTER) this.logger.error(fields, 'worker cannot be restored: /healthz answers 503 until it is; still retrying');
      setTimeout(() => { if (!this.stopping) this.fork(slot); }, delay).unref();
    });
  }

  private unrestorable(): Slot[] { return unrestorable(this.slots); }

  /** Write one record to the audit trail (none before start or without `log.audit`… standard output then). */
  auditRecord(r: AuditRecord): void {
    this.audit?.record(r);
  }

  /** reload() for a reload the admin API did not ask for (SIGHUP, --watch): its audit record names `actor`. */
  async auditedReload(actor: AuditActor): Promise<{ status: number; body: unknown }> {
    const before = this.version;
    // an unexpected throw refuses the reload (no caller to answer a SIGHUP or a file watch; an
    // unhandled rejection would end the primary and its workers with it)
    const r = await this.reload().catch((err: unknown) => {
      this.logger.error({ err: (err as Error).message }, 'reload refused: internal error, keeping the running config');
      return { status: 500, body: { reloaded: false, errors: [{ path: '', message: 'internal error during the reload: the running config is kept' }] } as unknown };
    });
    const b = r.body as { version?: number; errors?: unknown[] };
    this.audit?.record(reloadRecord(actor, before, r.status === 200 && typeof b.version === 'number' ? { ok: true, version: b.version } : { ok: false, errors: b.errors ?? [] }));
    return r;
  }

  /** Validate the file here (environment included), then reload every worker or none; one reload at a time. */
  reload(): Promise<{ status: number; body: unknown }> {
    const next = this.reloading.then(() => this.reloadNow()).then((r) => { this.fileReloads.note(r.status === 200); return r; }, (err: unknown) => { this.fileReloads.note(false); throw err; });
    this.reloading = next.catch(() => {});
    return next;
  }

  private async reloadNow(): Promise<{ status: number; body: unknown }> {
    const read = this.composeReload !== null ? null : readConfigText(this.configPath);
    // a large file is parsed off the loop: the workers' leases keep hearing from this process (reload-parse.ts)
    const r = read === null ? this.composeReload!() : read.ok ? await parseReloadText(read.text) : read;
    if (!r.ok) { this.logger.error({ errors: r.errors }, 'reload refused: config invalid, keeping the running config'); return { status: 422, body: { reloaded: false, errors: r.errors } }; }
    const out = await this.commitText(read === null ? (r as { text?: string }).text ?? '' : (read as { text: string }).text, r.config);
    if (out.status === 200 && read === null) this.onReloaded?.(r as { raw?: unknown });
    return out;
  }

  /**
   * Apply a config validated elsewhere (a cluster policy version: `policy`) to every worker or none, queued with reloads;
   * a function composes it at its turn (a reload committed meanwhile is part of it). `onCommit` runs in the step that commits it.
   */
  applyConfig(apply: { readonly text: string; readonly config: Config } | (() => ConfigResult & { text?: string }), policy?: PolicyVersion, onCommit?: () => void): Promise<{ status: number; body: unknown }> {
    const next = this.reloading.then(() => {
      const r = typeof apply === 'function' ? apply() : { ok: true as const, ...apply };
      if (!r.ok) { this.logger.error({ errors: r.errors }, 'reload refused: config invalid, keeping the running config'); return { status: 422, body: { reloaded: false, errors: r.errors } }; }
      return this.commitText(r.text ?? '', r.config, policy, onCommit);
    });
    this.reloading = next.catch(() => {});
    return next;
  }

  /** `policy`: the cluster version `config` carries; default the committed one (a reload of the file's local part keeps it). */
  private async commitText(text: string, config: Config, policy: PolicyVersion | null = this.policyVersion, onCommit?: () => void): Promise<{ status: number; body: unknown }> {
    const refuse = (status: number, body: Record<string, unknown>, log: Record<string, unknown>, why: string): { status: number; body: unknown } => {
      this.logger.error(log, `reload refused: ${why}, keeping the running config`);
      return { status, body: { reloaded: false, ...body } };
    };
    // a worker that is (re)starting boots with the committed text and could miss this reload
    const live = this.slots.map((s) => (s.ready && s.worker !== null ? s.worker : null));
    if (this.stopping) return refuse(503, { message: 'the process is stopping: nothing applied' }, {}, 'the process is stopping');
    if (live.some((w) => w === null)) {
      return refuse(503, { workers: this.slots.length, workers_ready: live.filter((w) => w !== null).length, message: 'a worker is restarting; nothing applied, try again' }, {}, 'a worker is restarting');
    }
    const version = this.version + 1;
    const id = ++this.reloadSeq;
    this.reloadsRunning++; // the workers parse it on their loops: no watchdog meanwhile
    const outcome = await coordinateReload(live as Worker[], text, version, id, () => {
      // from here on a restarted worker boots with the new config
      this.version = version;
      this.configText = text;
      this.config = config;
      this.policyVersion = policy;
      onCommit?.();
    }, undefined, policy).finally(() => this.reloadsRunning--);
    const workers = this.slots.length;
    switch (outcome.kind) {
      case 'refused':
        return refuse(422, { errors: outcome.errors, workers, workers_refused: outcome.refused }, { errors: outcome.errors, workers_refused: outcome.refused }, 'the new config cannot be applied');
      case 'unanswered':
        return refuse(503, { workers, workers_unanswered: outcome.unanswered, message: 'a worker did not answer: nothing applied' }, { workers_unanswered: outcome.unanswered }, 'a worker did not answer');
      case 'committed':
        if (outcome.acked < workers) this.logger.warn({ version, workers, workers_ok: outcome.acked }, 'config committed; a worker has not confirmed yet (it applies the commit when it reads it, or restarts with this config)');
        this.logger.info({ version }, 'config reloaded');
        return { status: 200, body: { reloaded: true, version, workers, workers_ok: outcome.acked, restart_required: restartOnlyChanges(this.startConfig, config) } };
      default: {
        const never: never = outcome;
        throw new Error(`unknown reload outcome ${String(never)}`);
      }
    }
  }

  /** SIGTERM/SIGINT: stop; a second one tells the workers to skip the rest of shutdown_delay_ms (their drain begins). */
  private signalled(): void {
    if (!this.stopping) { void this.stop(0); return; }
    for (const s of this.slots) if (s.worker?.isConnected() === true) s.worker.send({ type: 'worker.shutdown', now: true } satisfies PrimaryMessage);
  }

  async stop(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info('shutting down: draining workers');
    const drain = this.config.server.timeouts.shutdown_delay_ms + this.config.server.timeouts.drain_ms + 2_000;
    // a worker whose own stop failed or hung (exit 1), or that the drain's bound had to kill, makes the primary exit 1 too
    let workerFailed = false;
    const killedAtBound = new Set<Worker>();
    await Promise.all(this.slots.map((s) => new Promise<void>((resolve) => {
      const w = s.worker;
      if (w === null || w.isDead()) { resolve(); return; }
      // a worker exits by its own process.exit: a serving one dead of a signal was killed from outside (OOM, kill -9)
      // and cut what it was serving — before, the stop was called clean ('stopped', exit 0)
      const serving = s.ready;
      w.once('exit', (exitCode: number | null, signal: NodeJS.Signals | null) => {
        if (exitCode !== null && exitCode !== 0) workerFailed = true;
        if (signal !== null && serving && !killedAtBound.has(w)) { workerFailed = true; this.logger.error({ worker: s.index, signal }, `worker killed by ${signal} during the stop: what it was serving was cut`); }
        resolve();
      });
      // a booting worker may not hear the message yet (its code listens once it runs): SIGTERM reaches it in every phase
      if (w.isConnected()) w.send({ type: 'worker.shutdown' } satisfies PrimaryMessage);
      if (!s.ready || !w.isConnected()) w.process.kill('SIGTERM');
      // a worker still booting (a bus outage at start) has served nothing: killing it loses nothing, the stop is clean
      setTimeout(() => { if (!w.isDead()) { if (s.ready) workerFailed = true; killedAtBound.add(w); w.process.kill('SIGKILL'); } resolve(); }, drain).unref();
    })));
    // the primary's own close, as each worker's (run-instance.ts): a slow part is named, one past the
    // bound gives up with exit 1 instead of a process that never ends (an orchestrator's stop waiting on it)
    let bound: NodeJS.Timeout | undefined;
    const run = runStopSteps([
      { name: 'primary', run: (progress) => { progress('admin listener'); return this.admin?.close(); } },
      { name: 'primary', run: (progress) => { progress('audit log'); this.audit?.close(); } },
      { name: 'primary', run: (progress) => this.node?.close(progress) },
    ], { slowMs: STOP_SLOW_MS, report: (line) => this.logger.warn(line) });
    const late = new Promise<false>((resolve) => {
      bound = setTimeout(() => {
        this.logger.error({ part: run.current() }, `stop gave up: ${run.current() ?? 'a part'} still running ${STOP_CLOSE_BOUND_MS / 1000} s after the workers exited; exiting 1`);
        resolve(false);
      }, STOP_CLOSE_BOUND_MS);
    });
    const clean = await Promise.race([run.done.then((o) => o.failed.length === 0), late]).finally(() => clearTimeout(bound));
    // the last line says how the stop went, as one process's does (run-instance.ts): `stopped` when clean
    if (workerFailed) this.logger.error('stopped, but a worker\'s stop failed, hung or had to be killed (logged above): exit 1');
    else if (!clean) this.logger.error('stopped, but a part of the stop failed or hung (logged above): exit 1');
    else if (code === 0) this.logger.info('stopped');
    await logSettled(this.logger);
    process.exit(clean && !workerFailed ? code : 1);
  }
}
