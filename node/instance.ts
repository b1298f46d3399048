// One proxy instance (one process): builds snapshots from config, owns the listener,
// the auth layer, the metrics and (when not a cluster worker) the admin listener.
// Reload is prepare-then-commit: every component builds its new state beside the running
// one, and only when all succeeded is everything swapped in one synchronous step.
import { readFileSync } from 'node:fs';
import { AdminServer, adminTokens, type AdminHandler } from './admin/admin-server.js';
import { createAuth, explainAdminCall, waitingIssuers, type Auth, type PreparedAuth } from './auth/index.js';
import { checkEnvironment, formerInternalIssuerProblems, loadConfigFile, restartOnlyChanges, withStartFields, type Config, type ConfigProblem, type Environment } from './config/index.js';
import type { PolicyVersion } from './contracts/index.js';
import { Listener } from './http/listener.js';
import { H2Listener } from './http2/index.js';
import type { Snapshot } from './pipeline/snapshot.js';
import type { CompiledPolicy } from './pipeline/index.js';
import { auditLineSink, logLinesDropped, type Logger } from './log.js';
import { RequestMetrics } from './metrics/index.js';
import { S2sLayer, type PreparedS2s } from './s2s/index.js';
import { EventEndpoints } from './events/index.js';
import { poolStats, UPSTREAM_GAUGES, type UpstreamPool } from './upstream/upstream-pool.js';
import { RETIRED_READ_MS, RetiredCounters, afterMs } from './retired-counters.js';
import { instanceStats } from './instance-stats.js';
import { Tracer } from './tracing/index.js';
import { PORTCULLIS_VERSION } from './version.js';
import { AuditLog } from './audit/index.js';
import { warmReload } from './reload-warm.js';
import { logConfigWarnings } from './config-warnings.js';
import { buildSnapshot } from './snapshot-build.js';
import type { InstanceOptions } from './instance-options.js';
import { compileInSlices, PRECOMPILE_SLICE, problemOf, type PreparedReload, type ReloadResult } from './reload-prepared.js';

export class ProxyInstance {
  readonly metrics = new RequestMetrics();
  readonly logger: Logger;
  private listener: Listener | null = null;
  /** server.http2: the node:http2 listener, null when not configured. */
  private h2: H2Listener | null = null;
  private admin: AdminServer | null = null;
  /** The audit trail of admin actions; open when this process serves the admin API. */
  audit: AuditLog | null = null;
  private auth: Auth;
  /** Internal tokens, token exchange, egress client credentials (node/s2s). */
  private s2s: S2sLayer;
  private snapshot: Snapshot;
  /** The committed config's version: 1 at start (or what the primary says), +1 per committed reload only. */
  private version: number;
  /** The cluster policy version running (null: single-file); a file reload of the local part keeps it. */
  private policy: PolicyVersion | null;
  private readonly env: Environment;
  private closing = false;
  /** Ends shutdown_delay_ms early while it runs (endShutdownDelay); set by the delay. */
  private delayEnd: (() => void) | null = null;
  private delaySkipped = false;
  private readonly configPath: string | undefined;
  /** The config this process started with: the fields read at start only keep its values (config/restart-only.ts). */
  private readonly started: Config;
  /** Back-channel logout endpoints (node/events), answered by the listener before routing. */
  private readonly events: EventEndpoints;
  /** OTLP tracing, when `tracing.enabled` at start (the section is read at start: a reload keeps it). */
  private readonly tracer: Tracer | null;
  /** By upstream name, the counters of the pools reloads replaced: /metrics keeps them (a counter never goes down). */
  private readonly retiredPools = new Map<string, RetiredCounters<Record<string, number>>>();

  private constructor(private readonly opts: InstanceOptions) {
    this.logger = opts.logger;
    this.configPath = opts.configPath;
    this.started = opts.started ?? opts.config;
    this.env = opts.env ?? process.env;
    this.version = opts.version ?? 1;
    this.policy = opts.policy ?? null;
    this.auth = createAuth(opts.config, opts.logger, { tokenState: opts.tokenState ?? null, sharing: opts.sharing ?? null, dpopReplay: opts.dpopReplay ?? null, env: this.env });
    this.s2s = new S2sLayer(opts.config, { logger: opts.logger, revocations: opts.tokenState ?? null, env: this.env });
    this.tracer = opts.config.tracing.enabled ? new Tracer(opts.config.tracing, opts.logger, PORTCULLIS_VERSION, this.env) : null;
    if (this.tracer !== null) { const t = this.tracer; this.metrics.addSource(() => t.stats()); }
    this.snapshot = this.build(opts.config, this.version, this.policy, this.auth, this.s2s.committed, new Map(), []);
    this.metrics.addSource(() => ({ 'log.lines_dropped': logLinesDropped() }));
    this.metrics.addSource(() => instanceStats(this.snapshot.upstreams, this.auth, this.s2s, opts.cluster, this.retiredPools));
    // token-claims-change: through the shared introspection cache (every member) when clustered, else this process's caches
    const sharing = opts.sharing ?? null;
    this.events = new EventEndpoints({
      publisher: opts.revocationPublisher ?? null, logger: opts.logger, env: this.env,
      dropCached: sharing !== null ? (iss, sub) => sharing.dropSubjectEverywhere(iss, sub) : (iss, sub) => this.auth.dropSubject(iss, sub),
    });
    this.events.warm(opts.config);
    this.events.startPolling(opts.config);
    this.events.manageStreams(opts.config);
    this.metrics.addSource(() => this.events.stats());
  }

  /** Start listeners; resolves once the proxy port (and admin port) are bound. */
  static async start(opts: InstanceOptions): Promise<ProxyInstance> {
    const inst = new ProxyInstance(opts);
    const cfg = opts.config;
    logConfigWarnings(inst.logger, cfg);
    if (inst.policy !== null) inst.logger.info({ rounds: await warmReload(inst, cfg, inst.policy) }, 'reload path warmed for cluster policy versions');
    const passphrase = cfg.server.tls?.passphrase_env !== undefined ? process.env[cfg.server.tls.passphrase_env] : undefined;
    // Fail with a clear message before uWS (which only says "cannot listen").
    if (cfg.server.tls !== undefined) { readFileSync(cfg.server.tls.cert_file); readFileSync(cfg.server.tls.key_file); }
    inst.listener = new Listener(inst.snapshot, {
      host: cfg.server.listen.host,
      port: cfg.server.listen.port,
      ...(cfg.server.tls !== undefined ? { tls: { cert_file: cfg.server.tls.cert_file, key_file: cfg.server.tls.key_file, ...(passphrase !== undefined ? { passphrase } : {}) } } : {}),
      logger: opts.logger,
      metrics: inst.metrics,
      accessLog: cfg.log.access,
      tokenState: opts.tokenState ?? null,
      events: inst.events,
      sharedPort: opts.sharedPort === true,
    });
    await inst.listener.listen();
    if (cfg.server.http2 !== undefined) {
      const t = cfg.server.http2.tls;
      const h2Pass = t?.passphrase_env !== undefined ? process.env[t.passphrase_env] : undefined;
      inst.h2 = new H2Listener(inst.snapshot, { config: cfg.server.http2, ...(h2Pass !== undefined ? { passphrase: h2Pass } : {}), logger: opts.logger, metrics: inst.metrics, accessLog: cfg.log.access, sampledOut: () => inst.listener?.accessLineSampledOut(), refusedByReload: (relay, current) => inst.listener!.refusedByReload(relay, current) });
      // streamed responses on HTTP/2 end on revocation and expiry like those on the uWS listener
      inst.listener.ws.watchStreams(inst.h2.active);
      await inst.h2.listen();
    }
    if (opts.admin) {
      inst.audit = AuditLog.open(cfg.log.audit, auditLineSink(opts.logger));
      const audit = inst.audit;
      inst.metrics.addSource(() => audit.stats());
      inst.admin = new AdminServer({
        audit: inst.audit,
        host: cfg.admin.listen.host,
        port: cfg.admin.listen.port,
        maxConnections: cfg.admin.max_connections,
        ...adminTokens(cfg.admin),
        logger: opts.logger,
        readiness: () => inst.readiness(),
        ...(opts.cluster?.health === undefined ? {} : { health: () => ({ ok: true, detail: opts.cluster!.health!() }) }),
        metrics: () => inst.metrics.text(),
        routes: { ...inst.adminRoutes(), ...(opts.adminRoutes ?? {}) },
      });
      await inst.admin.listen();
    }
    return inst;
  }

  get port(): number { return this.listener?.port ?? 0; }
  /** Port of the HTTP/2 listener; 0 when server.http2 is not configured. */
  get http2Port(): number { return this.h2?.port ?? 0; }
  get adminPort(): number { return this.admin?.port ?? 0; }
  get config(): Config { return this.snapshot.config; }
  /** The committed config's version. */
  get configVersion(): number { return this.version; }

  /**
   * Ready = listener bound, the issuers of the start config judged once (keys loaded or
   * introspection endpoint known), revocations replayed, not draining. An issuer a reload added
   * does not make the instance unready while it waits for its keys (only its routes answer
   * 503): it is listed in `issuers_waiting`, and `keys_loaded` is false until it has them.
   */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    const authReady = this.snapshot.auth.ready();
    const cluster = this.opts.cluster?.readiness() ?? null;
    const ready = this.listener !== null && authReady && !this.closing && (cluster === null || cluster.ready);
    const issuers = this.auth.readiness();
    const waiting = waitingIssuers(issuers);
    const streams = this.events.streams();
    return {
      ready,
      detail: {
        listener: this.listener !== null, keys_loaded: waiting.length === 0, issuers, issuers_waiting: waiting,
        draining: this.closing, config_version: this.version, policy_label: this.snapshot.policyLabel, ...(cluster?.detail ?? {}),
        ...(Object.keys(streams).length === 0 ? {} : { event_streams: streams }),
      },
    };
  }

  whenAuthReady(timeoutMs: number): Promise<boolean> {
    return this.auth.whenReady(timeoutMs);
  }

  /** This instance's own admin handlers (`serve --workers`: the primary asks a worker for /cache/stats and /explain). */
  adminRoutes(): Record<string, AdminHandler> {
    return {
      'POST /reload': async () => {
        const r = this.reloadFromFile();
        if (r.ok) await this.afterSwap();
        return r.ok ? { status: 200, body: { reloaded: true, version: r.version, restart_required: r.restartRequired } } : { status: 422, body: { reloaded: false, errors: r.errors } };
      },
      'GET /cache/stats': async () => ({ status: 200, body: { ...this.auth.stats(), ...this.s2s.stats() } }),
      'POST /explain': (_req, body) => explainAdminCall(this.snapshot.config, this.auth, body),
    };
  }

  /** buildSnapshot with this instance's auth stages and tracer. */
  private build(config: Config, version: number, policy: PolicyVersion | null, auth: Pick<PreparedAuth, 'compilePolicy'>, s2s: Pick<PreparedS2s, 'steps' | 'wellKnown'>, previous: ReadonlyMap<string, UpstreamPool>, created: UpstreamPool[], compiled?: ReadonlyArray<CompiledPolicy | null>): Snapshot {
    return buildSnapshot(config, version, policy, { auth, s2s, stages: this.auth.stages, tracer: this.tracer }, previous, created, compiled);
  }

  /** Re-read the config file and swap atomically; on error the running config stays. */
  reloadFromFile(): ReloadResult {
    if (this.configPath === undefined) return { ok: false, errors: [{ path: '(config)', message: 'no config file to reload (dev mode uses an embedded config)' }] };
    const r = loadConfigFile(this.configPath, { env: this.env, refuseHiddenRoutes: true });
    if (!r.ok) {
      this.logger.error({ errors: r.errors }, 'reload refused: config invalid, keeping the running config');
      return r;
    }
    return this.reload(r.config);
  }

  /** Prepare, then commit: all of `config` or nothing of it. `policy`: the cluster version it carries (default: the running one). */
  reload(config: Config, policy: PolicyVersion | null = this.policy): ReloadResult {
    const p = this.prepare(config, this.version + 1, policy);
    if (!p.ok) return p;
    return { ok: true, version: this.commit(p.prepared), restartRequired: p.prepared.restartRequired };
  }

  /**
   * Reload, step 1: check the environment `config` names and build everything it needs
   * (auth, s2s, upstream pools, the snapshot) beside the running state, which stays untouched.
   * A refusal is logged and returns every problem with its config path; nothing changed.
   * `version`: the number the config gets when committed (default: the next one); `policy`: the
   * cluster policy version it carries (default: the running one, as for a reload of the local part).
   * `environmentChecked`: the caller has just checked `config`'s environment in this process's
   * (a policy version, checked on the validation thread): not walked again on the event loop.
   */
  prepare(next: Config, version = this.version + 1, policy: PolicyVersion | null = this.policy, environmentChecked = false, compiled?: ReadonlyArray<CompiledPolicy | null>): { ok: true; prepared: PreparedReload } | { ok: false; errors: ConfigProblem[] } {
    const restartRequired = restartOnlyChanges(this.started, next);
    const config = withStartFields(next, this.started);
    // an entry left on the internal issuer name this config renames: the old tokens would be an ordinary issuer's
    const envErrors = [...formerInternalIssuerProblems(this.snapshot.config, config), ...(environmentChecked ? [] : checkEnvironment(config, this.env))];
    if (envErrors.length > 0) {
      this.logger.error({ errors: envErrors }, 'reload refused: config invalid, keeping the running config');
      return { ok: false, errors: envErrors };
    }
    let auth: PreparedAuth | null = null;
    let s2s: PreparedS2s | null = null;
    const pools: UpstreamPool[] = [];
    try {
      auth = this.auth.prepare(config);
      s2s = this.s2s.prepare(config);
      const tls = this.h2?.readTls() ?? null;
      const listenerTls = this.listener?.readTls() ?? null;
      const snapshot = this.build(config, version, policy, auth, s2s, this.snapshot.upstreams, pools, compiled);
      return { ok: true, prepared: { config, version, policy, auth, s2s, pools, snapshot, tls, listenerTls, restartRequired } };
    } catch (err) {
      if (auth !== null) this.auth.discard(auth);
      if (s2s !== null) this.s2s.discard(s2s);
      for (const pool of pools) void pool.close();
      const problem = problemOf(err);
      this.logger.error({ errors: [problem] }, 'reload refused: the new config cannot be applied, keeping the running config');
      return { ok: false, errors: [problem] };
    }
  }

  /**
   * prepare() for a large config without holding the event loop for its routes: their policies
   * (pure: route + identity) are compiled in slices of PRECOMPILE_SLICE, yielding between slices,
   * then prepare runs in one step as usual (the running state — and the next version number, a
   * reload may have committed meanwhile — is read only there). Small configs go straight to prepare.
   */
  async prepareYielding(config: Config, policy: PolicyVersion | null, environmentChecked: boolean): Promise<ReturnType<ProxyInstance['prepare']>> {
    if (config.routes.length <= PRECOMPILE_SLICE) return this.prepare(config, this.version + 1, policy, environmentChecked);
    const compiled = await compileInSlices(config);
    return this.prepare(config, this.version + 1, policy, environmentChecked, compiled);
  }

  /** Reload, step 2: swap to `p` in one synchronous step (never throws); returns the version now running. */
  commit(p: PreparedReload): number {
    const old = this.snapshot;
    this.auth.commit(p.auth);
    this.s2s.commit(p.s2s);
    this.version = p.version;
    this.policy = p.policy;
    this.snapshot = p.snapshot;
    this.events.manageStreams(p.config);
    if (this.listener !== null) this.listener.snapshot = p.snapshot;
    if (this.h2 !== null) this.h2.useSnapshot(p.snapshot);
    if (p.tls !== null) this.h2?.useTls(p.tls);
    if (p.listenerTls !== null) this.listener?.useTls(p.listenerTls);
    // Pools no longer referenced are retired, not closed: a request that started on the old
    // snapshot and is still authenticating forwards through its pool later (closing gave it 502).
    for (const [name, up] of old.upstreams) {
      if (p.snapshot.upstreams.get(name) === up) continue;
      up.retire();
      const r = this.retiredPools.get(name) ?? new RetiredCounters<Record<string, number>>(UPSTREAM_GAUGES);
      this.retiredPools.set(name, r);
      r.retire({ stats: () => poolStats(up) }, afterMs(RETIRED_READ_MS));
    }
    // open WebSockets the new policy no longer allows are closed (1008)
    try { this.listener?.reauthorizeLive(); } catch (err) { this.logger.error({ err }, 'websocket re-authorization after reload failed'); }
    logConfigWarnings(this.logger, p.config);
    if (p.restartRequired.length > 0) this.logger.warn({ restart_required: p.restartRequired }, `reload applied except ${p.restartRequired.join(', ')}: read at start, they take effect at the next restart`);
    // logged once a renewed certificate's replaced listen socket is closed (afterSwap): SIGHUP and --watch
    // answer no one, and a script waiting for this line then verifies the certificate new connections get
    const fields = { version: this.version, policy: p.snapshot.policyLabel }, swapped = this.afterSwap();
    if (swapped === null) this.logger.info(fields, 'config reloaded');
    else void swapped.then(() => this.logger.info(fields, 'config reloaded'));
    return this.version;
  }

  /**
   * After a commit: resolves once what it swapped is all that new connections can reach — the listen
   * socket a renewed server.tls certificate replaced closes a poll later (node/http/listener-tls.ts).
   * A reload is answered after it (a client connecting then could get the old certificate); null when
   * nothing is closing (no renewal: answered at once).
   */
  afterSwap(): Promise<void> | null { return this.listener?.afterSwap() ?? null; }

  /** A refused reload (another worker said no): release what prepare built. Never after commit. */
  discard(p: PreparedReload): void {
    this.auth.discard(p.auth);
    this.s2s.discard(p.s2s);
    for (const pool of p.pools) void pool.close();
  }

  /**
   * A second stop signal: the rest of server.timeouts.shutdown_delay_ms is skipped and the drain
   * begins now (a shutdown not yet begun skips its delay). What is in flight is still drained.
   */
  endShutdownDelay(): void {
    this.delaySkipped = true;
    this.delayEnd?.();
  }

  /**
   * Graceful stop: refuse new connections, drain in-flight requests, close pools. `progress` is told
   * each part as it begins (a stop that takes long names where: cluster/process/stop-steps.ts).
   */
  async shutdown(progress: (part: string) => void = () => {}): Promise<void> {
    if (this.closing) return;
    this.closing = true; // /readyz 503 from here
    const { drain_ms: drainMs, shutdown_delay_ms: delayMs } = this.snapshot.config.server.timeouts;
    // serve on while load balancers see /readyz 503 and stop sending (README: Shutdown)
    if (delayMs > 0 && !this.delaySkipped) {
      progress('shutdown delay');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.delayEnd = () => { clearTimeout(timer); resolve(); };
      });
      this.delayEnd = null;
    }
    progress('drain');
    await Promise.all([this.listener?.drain(drainMs), this.h2?.drain(drainMs)]);
    progress('admin API');
    await this.admin?.close();
    progress('token checks (JWKS, verifier threads, introspection)');
    await this.auth.close();
    progress('internal tokens');
    await this.s2s.close();
    progress('identity-provider events');
    await this.events.close();
    progress('upstream pools');
    await Promise.all([...this.snapshot.upstreams.values()].map((u) => u.close()));
    progress('tracing');
    await this.tracer?.close();
    this.audit?.close();
  }
}
