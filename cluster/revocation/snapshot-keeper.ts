// The revocation actor's snapshot on disk (`cluster.revocation.snapshot_file`): loads it at
// start — entries always, the right to serve from it only while younger than
// `snapshot_max_age_s` — and keeps it written as the store changes, refreshed while caught up
// so its age stays true in a quiet cluster, and once more at close. Sealed with the bus key:
// a file this cluster did not write, or with an entry it cannot read, is never served from.
// One process writes a file: a reader (a `serve --workers N` worker on NATS) only loads it.
// It also keeps the gate while closed, so a restart (bus down) does not open it.
import type { Logger } from '../../node/log.js';
import type { BusAuth } from '../protocol/bus-auth.js';
import type { RevocationRecord } from '../protocol/messages.js';
import type { SnapshotSettings } from './revocation-settings.js';
import { readSnapshot, SnapshotWriter } from './revocation-snapshot.js';
import type { GateTimes } from './revocation-ingest.js';
import type { ApplyResult, RevocationStore } from './revocation-store.js';

/** What the keeper asks of the actor, synchronously. */
export interface SnapshotHost {
  /** The last moment the member was known caught up (now while live), epoch ms; null: never. */
  caughtUpAt(): number | null;
  /** Is the member caught up right now (the refresh only rewrites then)? */
  live(): boolean;
  /** Ids the stream has not acknowledged yet (the outbox): written with the entries, published again after a restart. */
  pending(): readonly string[];
  /** The gate's times to write (closed: kept across a restart). */
  gates(): GateTimes;
  /** The gate a loaded file kept: closed again, as it was before the restart. */
  restoreGates(g: GateTimes): void;
}

/** Longest interval between two refreshes while caught up, ms. */
const MAX_REFRESH_MS = 60_000;

/** Loads and (unless a reader) writes one member's snapshot. */
export class SnapshotKeeper {
  /** Entries applied from the file at start. */
  loaded = 0;
  /** Entries the file marks as never acknowledged by the stream: the actor publishes them again. */
  private unpublished: RevocationRecord[] = [];
  /** Null for a reader: the file is another process's (the primary's, which alone holds the outbox's ids). */
  private readonly writer: SnapshotWriter | null;
  private refresh: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: SnapshotSettings,
    /** Applies a loaded entry to the store under the actor's bound and overflow policy. */
    private readonly apply: (r: RevocationRecord) => ApplyResult,
    store: RevocationStore,
    private readonly host: SnapshotHost,
    private readonly logger?: Logger,
    /** The bus key: the file is sealed with it and only a file it opens is used; null (no key) writes and reads it unsealed. */
    private readonly auth: BusAuth | null = null,
    /** Write the file too (default); false: load it only, and leave its outbox ids to the writer. */
    writes = true,
  ) {
    if (!writes) { this.writer = null; return; }
    const writer: SnapshotWriter = new SnapshotWriter(settings.file, () => ({ asOf: host.caughtUpAt() ?? 0, entries: store.list(), pending: host.pending(), gates: host.gates() }), settings.intervalMs, (err) => {
      const n = writer.failures;
      if (n === 1 || n % 100 === 0) logger?.error({ err: err.message, file: settings.file, failures: n }, 'revocation snapshot not written');
    }, auth);
    this.writer = writer;
  }

  /**
   * Apply the file's entries (more revocations never let a token through), each applied one also
   * handed to `applied` — served from or not: a stream that lost it is refilled from here (an old
   * snapshot is the whole cluster's only copy when everything was away for longer than its max age).
   * Returns the snapshot's caught-up time when it is young enough to serve from, else null.
   */
  load(applied?: (r: RevocationRecord) => void): number | null {
    const s = this.settings;
    const read = readSnapshot(s.file, Date.now(), this.auth);
    if (!read.ok) {
      if (read.reason === 'unauthenticated') this.logger?.error({ reason: read.reason, detail: read.detail }, 'revocation snapshot refused: not sealed with this cluster\'s bus key; requests wait for a replay');
      else if (read.reason !== 'missing') this.logger?.warn({ reason: read.reason, detail: read.detail }, 'revocation snapshot not used');
      return null;
    }
    // whatever the file's age: a closed gate never lets a token through (the first whole replay decides)
    if (read.snapshot.gates !== undefined) this.host.restoreGates(read.snapshot.gates);
    const pending = new Set(read.snapshot.pending ?? []);
    for (const r of read.snapshot.entries) {
      if (this.apply(r) !== 'applied') continue;
      this.loaded++;
      applied?.(r);
      // a reader would publish them beside the writer, whose outbox owns them
      if (pending.has(r.id) && this.writer !== null) this.unpublished.push(r);
    }
    // an entry it could not read may be the revocation of a token it would let through
    if (read.skipped > 0) {
      this.logger?.error({ file: s.file, entries: this.loaded, skipped: read.skipped }, 'revocation snapshot has entries that cannot be read: the others are applied, but requests wait for a replay');
      return null;
    }
    const ageMs = Date.now() - read.snapshot.asOf;
    if (ageMs > s.maxAgeS * 1000) {
      this.logger?.warn({ file: s.file, entries: this.loaded, age_s: Math.round(ageMs / 1000), max_age_s: s.maxAgeS }, 'revocation snapshot older than snapshot_max_age_s: its entries are applied, but requests wait for a replay');
      return null;
    }
    this.logger?.info({ file: s.file, entries: this.loaded, age_s: Math.round(ageMs / 1000) }, 'revocation snapshot loaded');
    return read.snapshot.asOf;
  }

  /** The loaded entries the stream never acknowledged (taken once: the outbox owns them from here). */
  takeUnpublished(): RevocationRecord[] {
    const out = this.unpublished;
    this.unpublished = [];
    return out;
  }

  /** The store changed: write within the interval. */
  changed(): void {
    this.writer?.touch();
  }

  /** Caught up: write now-ish, and keep the file's caught-up time current from here on. */
  caughtUp(): void {
    if (this.writer === null) return;
    this.writer.touch();
    if (this.refresh !== null) return;
    const every = Math.max(1_000, Math.min(MAX_REFRESH_MS, (this.settings.maxAgeS * 1000) / 4));
    this.refresh = setInterval(() => { if (this.host.live()) this.writer?.touch(); }, every);
    this.refresh.unref();
  }

  /** The write counters only from the writer: a reader's zeros would stand beside the primary's in the instance's /metrics. */
  stats(): { revocation_snapshot_loaded: number; revocation_snapshot_writes_total?: number; revocation_snapshot_write_failures_total?: number } {
    if (this.writer === null) return { revocation_snapshot_loaded: this.loaded };
    return { revocation_snapshot_loaded: this.loaded, revocation_snapshot_writes_total: this.writer.writes, revocation_snapshot_write_failures_total: this.writer.failures };
  }

  /** Stop refreshing and write the final state, with the moment the member was last caught up. */
  async close(): Promise<void> {
    if (this.refresh !== null) clearInterval(this.refresh);
    this.refresh = null;
    if (this.writer === null) return;
    this.writer.close();
    await this.writer.flush();
  }
}
