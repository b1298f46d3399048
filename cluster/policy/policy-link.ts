// The policy watcher's own NATS connection and its bucket: connects (retrying while JetStream
// elects a leader), watches the bucket, asks its leader (LeaderProbe), listens for the peers'
// versions at start, and after a reconnect holds auth routes while a newer revision waits.
import type { NatsConnection } from 'nats';
import type { Config } from '../../node/config/index.js';
import type { Logger } from '../../node/log.js';
import type { BusAuth } from '../protocol/index.js';
import type { ClusterSettings } from '../revocation/index.js';
import { MEMBER_LIVENESS, nats as natsModule, natsConnectionOptions, noJetStream, noJetStreamMessage } from '../transport/index.js';
import { UNREAD_REVISION, type PolicyHold } from './policy-hold.js';
import { LeaderProbe } from './policy-probe.js';
import { listenForPeers, peerWaitMs, type PeerVersion } from './policy-start-floor.js';
import { PolicyStore, type StoredValue } from './policy-store.js';

/** What the link tells its watcher. */
export interface PolicyLinkEvents {
  /** The watch delivered a bucket entry. */
  value(v: StoredValue): void;
  /** The leader answered (LeaderProbe): its latest entry, whether this member had been cut off, how long it was silent (ms). */
  leader(latest: StoredValue | null, wasIsolated: boolean, silentMs: number): void;
  /** The highest bucket revision looked at (applied, refused or ignored). */
  handled(): number;
}

export class PolicyLink {
  nc: NatsConnection | null = null;
  store: PolicyStore | null = null;
  /** Our own NATS connection is up (status events). */
  connected = false;
  /** The bucket held no entry when opened (null: not opened yet). */
  bucketEmpty: boolean | null = null;
  /** Why the bucket cannot be opened when no JetStream serves the connection (null otherwise): /readyz and the logs say it. */
  noJetStream: string | null = null;
  /** Peers' versions heard for peerWaitMs(cluster.heartbeat_ms) after connecting. */
  peersHeard: Promise<PeerVersion | null> | null = null;
  private stopWatch: (() => void) | null = null;
  private probe: LeaderProbe | null = null;
  private closed = false;

  constructor(
    private readonly settings: ClusterSettings,
    private readonly bucket: string,
    private readonly auth: BusAuth | null,
    private readonly policy: Pick<Config['cluster']['policy'], 'history' | 'replicas'>,
    private readonly hold: PolicyHold,
    private readonly logger: Logger,
    private readonly events: PolicyLinkEvents,
  ) {}

  /** Connect and open the bucket; logs and gives up when the first connection fails (no NATS configured: nothing). */
  async connect(memberId: string): Promise<void> {
    const nats = this.settings.nats;
    if (nats === null) return;
    const opts = natsConnectionOptions(nats, `portcullis policy ${memberId}`);
    try {
      this.nc = await natsModule().connect({ ...opts, ...MEMBER_LIVENESS, waitOnFirstConnect: true, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (err) {
      if (!this.closed) this.logger.error({ err: String(err) }, 'policy: cannot connect to NATS');
      return;
    }
    if (this.closed) { await this.nc.close(); return; }
    this.connected = true;
    this.peersHeard = listenForPeers(this.nc, this.settings.prefix, this.auth, peerWaitMs(this.settings.heartbeatMs));
    void (async () => {
      for await (const s of this.nc!.status()) {
        // until the bucket is read, assume a version was missed: auth routes wait (bounded by the catch-up timeout)
        if (s.type === natsModule().Events.Disconnect) { this.connected = false; this.hold.onChange?.(); }
        if (s.type === natsModule().Events.Reconnect) { this.connected = true; this.hold.waitFor(UNREAD_REVISION); void this.checkBehind(); }
      }
    })().catch(() => {});
    // JetStream may still be electing a leader: retry opening the bucket
    for (let delay = 200; !this.closed; delay = Math.min(delay * 2, 2_000)) {
      try {
        const store = await PolicyStore.open(this.nc, { bucket: this.bucket, history: this.policy.history, replicas: this.policy.replicas });
        this.noJetStream = null;
        this.bucketEmpty = (await store.latest()) === null;
        this.store = store;
        this.stopWatch = await store.watch((v) => { this.bucketEmpty = false; this.events.value(v); });
        this.logger.info({ bucket: this.bucket }, 'policy: watching the bucket');
        this.probe = new LeaderProbe(store, () => !this.closed && this.connected, () => this.events.handled(), (v, wasIsolated, silentMs) => this.events.leader(v, wasIsolated, silentMs), this.logger);
        this.probe.start();
        return;
      } catch (err) {
        // no JetStream at all: once as an error naming it (before, a warning every 2 s saying "NatsError: 503"); still
        // retried, as when NATS is unreachable: the servers may get JetStream without this member restarting
        if (noJetStream(err)) {
          const why = noJetStreamMessage(err, this.nc.getServer());
          if (this.noJetStream !== why) this.logger.error({ bucket: this.bucket, retry_ms: delay }, `policy: cannot open the bucket: ${why}`);
          this.noJetStream = why;
        } else {
          this.noJetStream = null;
          this.logger.warn({ err: String(err), bucket: this.bucket, retry_ms: delay }, 'policy: cannot open the bucket yet');
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.probe?.stop();
    this.stopWatch?.();
    await this.nc?.close().catch(() => {});
  }

  /** After a reconnect: is a newer revision waiting in the bucket? (The watch delivers it.) */
  private async checkBehind(): Promise<void> {
    const since = this.hold.waitingSince() ?? performance.now(); // monotonic (PolicyHold)
    let latest: StoredValue | null | undefined;
    // JetStream may not answer at once after a reconnect: retry until the catch-up timeout
    while (latest === undefined) {
      try { latest = this.store === null ? null : await this.store.latest(); } catch {
        if (this.closed || performance.now() - since > this.settings.catchUpTimeoutMs) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const handled = this.events.handled();
    if (latest === null || latest.revision <= handled) { this.hold.release(); return; }
    this.hold.waitFor(latest.revision, since);
    this.logger.warn({ revision: latest.revision, handled }, 'policy: a newer version is waiting after a reconnect; auth routes wait until it is looked at');
  }
}
