// One instance's side of cluster policy (`cluster.policy.source: cluster`): watches the
// `<P>_POLICY` bucket on its own NATS connection (policy-link.ts), checks every new version
// (authentic, well-formed, newer, valid here with this instance's secrets — off the event loop) and hands it
// to the applier (the same prepare-then-commit as a reload); keeps the last applied version in
// `state_file` for a restart without NATS; its status (version, digest, last error) rides on the
// member's heartbeat (`attachMember`), sent again at once whenever it changes. The first version
// is held to the start floors (policy-start-floor.ts): no rollback by an old entry copied back.
import { hostname } from 'node:os';
import type { Config, ConfigProblem, PolicyDocument } from '../../node/config/index.js';
import { busAuthFrom, type BusAuth, type MemberPolicyStatus } from '../protocol/index.js';
import { clusterSettings, type ClusterSettings } from '../revocation/index.js';
import { openEnvelope, type CheckedEntry, type PolicyEntry } from './policy-messages.js';
import { PolicyHold } from './policy-hold.js';
import { PolicyLink } from './policy-link.js';
import { pushPolicy, type PushOptions } from './policy-push.js';
import { persistState } from './policy-state-file.js';
import { stateFileStart } from './policy-state-start.js';
import { policyBucket, type StoredValue } from './policy-store.js';
import { judgeStart, startFloors, type StartFloors } from './policy-start-floor.js';
import { checkVersionFor } from './policy-validate.js';
import { ms, nowMs, VersionTimings } from './policy-timings.js';
import { policyStats, type PolicyCounters } from './policy-stats.js';
import type { PolicyApplier, PolicyWatcherOptions, RefusalReason, StatusCarrier } from './policy-watcher-contract.js';

export type { ApplyResult, PolicyApplier, PolicyWatcherOptions, RefusalReason, StatusCarrier } from './policy-watcher-contract.js';

/** How a member's status error about another policy under its own version number starts. */
const TWIN = 'the bucket holds version';

export class PolicyWatcher {
  readonly settings: ClusterSettings;
  readonly bucket: string;
  readonly auth: BusAuth | null;
  private memberId: string;
  private carrier: StatusCarrier | null = null;
  private readonly stateFile: string | null;
  private closed = false;
  private active: CheckedEntry | null = null;
  private activePolicy: { json: string; doc: PolicyDocument } | null = null;
  private from: 'bus' | 'state_file' | 'none' = 'none';
  private lastError: string | null = null;
  private latestSeen = 0;
  private stateProblem: string | null = null;
  /** The floors the first version is held to (read once). */
  private floors: Promise<StartFloors> | null = null;
  /** Why the latest version was not taken at start (older than a floor), until a version is active. */
  private heldBelow: string | null = null;
  private pending: StoredValue | null = null;
  private pendingAt = 0; // when `pending` arrived (epoch ms): where this member's part of its propagation starts
  /** Highest bucket revision looked at (applied, refused or ignored). */
  private handledRevision = 0;
  /** When auth routes wait for the policy (after a reconnect, a cut-off). */
  readonly hold: PolicyHold;
  /** Our own NATS connection and the bucket. */
  private readonly link: PolicyLink;
  /** Where the last version's time went, ms (logged with "policy applied"; README "Cluster policy" names each stage). */
  private readonly timings = new VersionTimings();
  private running = false;
  private applier: PolicyApplier | null = null;
  /** The file's raw document every version is combined with: the start's, then each committed file reload's (README "Cluster policy"). */
  localRaw: unknown;
  private initial: { resolve: (c: Config) => void; done: boolean };
  private readonly initialConfig: Promise<Config>;
  private readonly counters: PolicyCounters = { applies: 0, ignored: {}, refusals: {}, propagationMs: 0, appliedAt: 0 };

  constructor(private readonly opts: PolicyWatcherOptions) {
    this.settings = clusterSettings(opts.config.cluster);
    this.localRaw = opts.localRaw;
    this.bucket = policyBucket(this.settings.prefix);
    this.auth = busAuthFrom(this.settings.auth);
    this.memberId = opts.memberId ?? this.settings.memberId ?? `${hostname()}-${process.pid}`;
    this.stateFile = opts.config.cluster.policy.state_file ?? null;
    this.hold = new PolicyHold(this.settings.catchUpTimeoutMs, this.settings.failClosedAfterMs);
    this.link = new PolicyLink(this.settings, this.bucket, this.auth, opts.config.cluster.policy, this.hold, opts.logger, {
      value: (v) => { this.pending = v; this.pendingAt = nowMs(); void this.drain(); },
      leader: (v, wasIsolated, silentMs) => this.leaderSaid(v, wasIsolated, silentMs),
      handled: () => this.handledRevision,
    });
    let resolve!: (c: Config) => void;
    this.initialConfig = new Promise<Config>((r) => { resolve = r; });
    this.initial = { resolve, done: false };
  }

  /**
   * Connect and watch in the background; resolves with the config to start with: the latest
   * version once it is valid here, or — when the bus is not reachable within
   * `cluster.start_timeout_ms` or its latest version cannot be used here — the state file's.
   * Never resolves while neither exists (the caller stays not ready and says why: `waitingFor`).
   */
  start(): Promise<Config> {
    void this.link.connect(this.memberId);
    setTimeout(() => { if (!this.initial.done) void this.fromStateFile(); }, this.settings.startTimeoutMs).unref();
    return this.initialConfig;
  }

  /** From now on `member`'s heartbeats carry this watcher's status (and it is the `member` GET /policy names). */
  attachMember(member: StatusCarrier): void {
    this.memberId = member.id;
    this.carrier = member;
    member.setPolicyStatus(() => this.memberStatus());
    member.beatNow();
  }

  /** What the heartbeat says about this member's policy. */
  memberStatus(): MemberPolicyStatus {
    return { version: this.active?.version ?? 0, digest: this.active?.digest ?? null, error: this.lastError, latestSeen: this.latestSeen, from: this.from };
  }

  /** From now on versions are applied with `applier` (after the instance started with the initial config). */
  setApplier(applier: PolicyApplier): void {
    this.applier = applier;
    void this.drain();
  }

  /** The active version (null before the first). */
  current(): CheckedEntry | null {
    return this.active;
  }

  /** The active version's policy document (parsed on first use: large policies are kept as text). */
  currentPolicy(): PolicyDocument | null {
    const a = this.active;
    if (a === null) return null;
    if (this.activePolicy?.json !== a.policyJson) this.activePolicy = { json: a.policyJson, doc: JSON.parse(a.policyJson) as PolicyDocument };
    return this.activePolicy.doc;
  }

  /** Why there is no policy yet, or null when there is one. */
  waitingFor(): string | null {
    if (this.active !== null) return null;
    if (this.link.nc === null) return `no policy: NATS not reachable${this.stateFile === null ? ' and no cluster.policy.state_file configured' : `, state file: ${this.stateProblem ?? 'not read yet'}`}`;
    if (this.link.noJetStream !== null) return `no policy: ${this.link.noJetStream}`;
    if (this.link.bucketEmpty === true) return `no policy version pushed yet to ${this.bucket} (portcullis policy push)`;
    if (this.heldBelow !== null) return this.heldBelow;
    if (this.lastError !== null) return `the latest policy version cannot be applied here: ${this.lastError}`;
    return 'reading the latest policy version';
  }

  /**
   * True while requests on auth routes wait (503) instead of being judged by a policy that may
   * be outdated: after a reconnect while the bucket holds a version not looked at yet (at most
   * `cluster.revocation.catch_up_timeout_ms`), and past `cluster.fail_closed_after_ms` without
   * an answer from the bucket's leader until it answers and any newer version is applied.
   */
  catchingUp(busConnected = false): boolean { return this.hold.holding(this.link.connected, busConnected, this.handledRevision, this.settings.nats !== null); }

  /**
   * The `/readyz` part: ready once a version is applied and auth routes are not held for a newer one (`busConnected`:
   * the member's bus, as the request path's hold reads it); degraded while running the state file's. Before, the hold
   * was left out: after a whole NATS cluster came back, /readyz said 200 for ~3 s while auth routes answered 503.
   */
  readiness(busConnected = false): { ready: boolean; detail: Record<string, unknown> } {
    const a = this.active;
    const waiting = this.waitingFor();
    const held = this.catchingUp(busConnected);
    return {
      ready: a !== null && !held,
      detail: {
        policy: {
          source: 'cluster', version: a?.version ?? 0, digest: a?.digest ?? null, from: this.from, degraded: this.from === 'state_file',
          latest_seen: this.latestSeen, error: this.lastError, bus_connected: this.link.connected, catching_up: held,
          ...(waiting === null ? {} : { waiting_for: waiting }),
        },
      },
    };
  }

  /** GET /policy. */
  status(): Record<string, unknown> {
    const a = this.active;
    return {
      source: 'cluster', bucket: this.bucket, member: this.memberId, version: a?.version ?? 0, digest: a?.digest ?? null, pushed_by: a?.pushedBy ?? null,
      pushed_at: a === null ? null : new Date(a.pushedAt).toISOString(), from: this.from, latest_seen: this.latestSeen, error: this.lastError,
    };
  }

  /** Publish a version from this member (POST /policy); the caller validated it. Throws when the bus is not there. */
  async push(policy: Record<string, unknown>, opts: PushOptions): Promise<PolicyEntry> {
    if (this.link.store === null) throw new Error('the policy bucket is not reachable (NATS down?)');
    return pushPolicy(this.link.store, this.auth, policy, opts);
  }

  /** Component metrics: `policy.version`, `policy.applies`, `policy.refusals.<reason>`, `policy.ignored.<reason>`, `policy.propagation_ms`, `policy.push_conflicts.<by>`. */
  stats(): Record<string, number> {
    return policyStats(this.counters, this.active?.version ?? 0, this.latestSeen, this.from === 'state_file', this.link.store?.stats());
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.link.close();
  }


  /**
   * The leader's answer (LeaderProbe): the active version is confirmed current, or a newer one
   * is processed now; after a cut-off (a failed request, or silent past fail_closed_after_ms)
   * auth routes wait until it is — decided before this turn ends, so no request slips between.
   */
  private leaderSaid(latest: StoredValue | null, wasIsolated: boolean, silentMs: number): void {
    const pastLimit = this.hold.leaderAnswered(silentMs);
    if (latest === null || latest.revision <= this.handledRevision) return;
    if (pastLimit || wasIsolated) {
      // cut off past fail_closed_after_ms: wait until applied, not only the catch-up timeout
      this.hold.waitFor(latest.revision, performance.now(), !pastLimit);
      this.opts.logger.warn({ revision: latest.revision, handled: this.handledRevision, silent_ms: silentMs }, 'policy: the bucket is reachable again with a newer version; auth routes wait until it is applied');
    }
    if (this.pending !== null && this.pending.revision >= latest.revision) return;
    this.pending = latest;
    this.pendingAt = nowMs();
    void this.drain();
  }

  /** The status changed (applied, refused): the member's next heartbeat goes now, not within a second. */
  private report(): void { this.carrier?.beatNow(); }

  /** One version at a time; only the newest waiting one is looked at. */
  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending !== null && !this.closed) {
        // while the instance starts with the initial version, newer ones wait for the applier
        if (this.applier === null && this.initial.done) return;
        const v = this.pending;
        this.pending = null;
        this.timings.begin();
        await this.process(v, this.pendingAt);
        this.timings.end();
        this.handledRevision = Math.max(this.handledRevision, v.revision);
        this.hold.handled(this.handledRevision);
      }
    } finally {
      this.running = false;
    }
  }

  private async process(v: StoredValue, arrivedAt: number): Promise<void> {
    const t0 = nowMs();
    // the MAC on the event loop; gunzip, parse, digest and validation too for a small policy, else in a worker thread
    const opened = openEnvelope(v.value, this.bucket, this.auth);
    const t1 = nowMs();
    const checkedWith = this.localRaw; // a file reload may commit while the check runs: the applier is told which local part it used
    const checked = opened.ok ? await (this.opts.check ?? checkVersionFor)(checkedWith, opened.payload) : { kind: 'ignored' as const, reason: opened.reason };
    if (checked.kind === 'ignored') {
      this.counters.ignored[checked.reason] = (this.counters.ignored[checked.reason] ?? 0) + 1;
      this.opts.logger.warn({ reason: checked.reason, revision: v.revision }, 'policy: bucket entry ignored (not authentic or malformed)');
      if (this.active !== null) return;
      // at start, junk on top (a bucket writer without the key) must not keep the member closed: the history's newest authentic version instead
      const h = (await (this.floors ??= this.startFloors())).history;
      if (h !== null && h.value.revision !== v.revision) await this.process(h.value, arrivedAt);
      else this.heldBelow = `the bucket's latest entry is not usable (${checked.reason}) and its history holds no authentic version to start from; waiting for a push`;
      return;
    }
    const e = checked.entry;
    this.latestSeen = Math.max(this.latestSeen, e.version);
    const a = this.active;
    if (a === null) {
      const j = judgeStart(e, v.revision, await (this.floors ??= this.startFloors()));
      if (j.kind === 'older') {
        this.counters.ignored.not_newer = (this.counters.ignored.not_newer ?? 0) + 1;
        this.heldBelow = `the bucket's latest version ${e.version} is below version ${j.floor}, ${j.by} (an old entry copied back?); waiting for a newer version`;
        this.opts.logger.warn({ version: e.version, revision: v.revision, floor: j.floor, by: j.by, instead: j.instead?.revision ?? null }, 'policy: bucket entry ignored at start (below a floor: an old entry copied back?)');
        if (j.instead !== null) await this.process(j.instead, arrivedAt);
        else void this.fromStateFile();
        return;
      }
    }
    if (a !== null && e.version <= a.version) {
      if (e.version === a.version && e.digest === a.digest) { // the version we run (e.g. from the state file)
        this.from = 'bus';
        if (this.lastError?.startsWith(TWIN) === true) { this.lastError = null; this.report(); }
        return;
      }
      this.counters.ignored.not_newer = (this.counters.ignored.not_newer ?? 0) + 1;
      this.opts.logger.warn({ version: e.version, active: a.version, digest: e.digest, active_digest: a.digest }, 'policy: bucket entry ignored (not newer than the active version)');
      // One number, two policies (pushes racing, a re-created bucket): not newer, so not applied (a bucket writer
      // without the key could switch between them), but said — before, this member ran its own under the number
      // its restarted peers ran the other under, with no error in its status, GET /policy or heartbeat.
      if (e.version === a.version) {
        this.lastError = `${TWIN} ${e.version} with digest ${e.digest.slice(0, 12)}, not the ${a.digest.slice(0, 12)} this member runs (two pushes of one version, or a re-created bucket); keeping it — push a new version so every member runs one policy`;
        this.report();
      }
      return;
    }
    const verdict = checked.verdict;
    if (!verdict.ok) { this.refuse(e, verdict.kind, verdict.errors); return; }
    if (verdict.hidden !== undefined) this.opts.logger.warn({ version: e.version, hidden: verdict.hidden.slice(0, 20) }, 'policy version has routes an earlier route hides (a push refuses them now); serving it as pushed');
    const t2 = nowMs();
    this.timings.stages = { delivery_ms: ms(arrivedAt - e.pushedAt), queue_ms: ms(t0 - arrivedAt), open_ms: ms(t1 - t0), check_ms: ms(t2 - t1), apply_ms: 0 };
    if (this.applier === null) {
      // the start timeout took the state file's version meanwhile: this one waits for the applier, as a pushed one
      if (this.initial.done) { this.pending ??= v; return; }
      this.commit(e, v.value, 'bus', false);
      this.initial.done = true;
      this.initial.resolve(verdict.config);
      return;
    }
    const r = await this.applier(verdict.config, e, checkedWith);
    this.timings.stages.apply_ms = ms(nowMs() - t2);
    if (r.ok) { Object.assign(this.timings.stages, r.timings); this.commit(e, v.value, 'bus'); }
    else this.refuse(e, 'apply', r.errors);
  }

  /** `arrived`: this member saw the version come in (pushed, or read on reconnect) — false for the version it starts with. */
  private commit(e: CheckedEntry, sealed: Uint8Array, from: 'bus' | 'state_file', arrived = from === 'bus'): void {
    this.active = e;
    this.heldBelow = null;
    this.from = from;
    this.lastError = null;
    this.counters.applies++;
    this.counters.appliedAt = Date.now();
    // push → applied is a propagation time only for a version this member saw arrive; at start it is the version's age
    // (logged 28 555 ms as propagation_ms for a version pushed half a minute before the member started)
    const ageMs = Math.max(0, this.counters.appliedAt - e.pushedAt);
    if (arrived) this.counters.propagationMs = ageMs;
    // the heartbeat first: the cluster learns of the version before the disk write
    const t0 = nowMs();
    this.report();
    const t1 = nowMs();
    if (from === 'bus' && this.stateFile !== null) persistState(this.stateFile, this.bucket, sealed, this.opts.logger);
    const t2 = nowMs();
    const fields = { version: e.version, digest: e.digest, pushed_by: e.pushedBy, from };
    if (from !== 'bus') { this.opts.logger.info(fields, 'policy applied'); return; }
    Object.assign(this.timings.stages, { beat_ms: ms(t1 - t0), persist_ms: ms(t2 - t1) });
    if (!arrived) {
      // the delivery "stage" is the same age: not a stage of this member's
      delete this.timings.stages.delivery_ms;
      this.timings.report((st) => this.opts.logger.info({ ...fields, version_age_ms: ms(ageMs), ...st }, 'policy applied at start'));
      return;
    }
    this.timings.report((stages) => this.opts.logger.info({ ...fields, propagation_ms: ageMs, ...stages }, 'policy applied'));
  }

  private refuse(e: CheckedEntry, reason: RefusalReason, errors: readonly ConfigProblem[]): void {
    this.counters.refusals[reason] = (this.counters.refusals[reason] ?? 0) + 1;
    const shown = errors.slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ');
    this.lastError = `version ${e.version} refused (${reason}): ${shown}${errors.length > 5 ? `; and ${errors.length - 5} more` : ''}`;
    this.opts.logger.error({ version: e.version, reason, errors: errors.slice(0, 20) }, 'policy version refused, keeping the active version');
    this.report();
    // at start, a latest version unusable here: the state file's version is better than none
    if (!this.initial.done) void this.fromStateFile();
  }

  /** What the first version is held to: the state file's version, the peers' (heard by now), the bucket history's newest. */
  private startFloors(): Promise<StartFloors> {
    return startFloors(this.link.peersHeard, this.link.store, this.stateFile, this.bucket, this.auth);
  }

  /** Start from the state file when there is still no initial config (bus unreachable, or its latest version unusable here). */
  private async fromStateFile(): Promise<void> {
    if (this.initial.done || this.stateFile === null) { this.stateProblem ??= 'none configured'; return; }
    const start = await stateFileStart(this.stateFile, this.bucket, this.auth, this.localRaw, this.opts.check ?? checkVersionFor, this.link.peersHeard);
    if (!start.ok) {
      this.stateProblem = start.problem;
      // no file yet is a member that never applied a version (every first start, every scale-up): not an error
      if (start.kind === 'missing') this.opts.logger.info({ file: this.stateFile }, 'policy: no state file yet (first start); not ready until a version arrives from the bus');
      else if (start.kind === 'unreadable') this.opts.logger.error({ file: this.stateFile, problem: this.stateProblem }, 'policy: no usable state file; not ready until a version arrives from the bus');
      else this.opts.logger.error({ problem: this.stateProblem }, 'policy: state file refused');
      return;
    }
    const { entry, sealed, config } = start;
    if (this.initial.done) return;
    this.commit(entry, sealed, 'state_file');
    this.opts.logger.warn({ version: entry.version }, 'policy: started from the state file (degraded) until the bus is reachable');
    this.initial.done = true;
    this.initial.resolve(config);
  }
}
