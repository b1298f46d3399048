// The revocation store on local disk, so a member restarted while the bus is down has
// revocation state to serve from: JSON written 0600 to a temp file and renamed over the
// old one (a reader never sees half a file), at most once per interval, one write at a time.
// With a bus key the content is sealed with it (v2): a file from another cluster, or edited by
// hand, is refused whole — never read as "these are all the revocations".
import { readFileSync } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import type { BusAuth } from '../protocol/bus-auth.js';
import { parseRevocationRecord, type RevocationRecord } from '../protocol/messages.js';
import type { GateTimes } from './revocation-ingest.js';

/** Format version of an unsealed file (no bus key: IPC and single-process members). */
const SNAPSHOT_V = 1;
/** Format version of a file sealed with the bus key: `{v: 2, sealed: base64(envelope of the v1 JSON)}`. */
const SEALED_V = 2;
/** The envelope's subject: a snapshot's seal cannot pass for a bus message's, nor the reverse. */
const SEAL_SUBJECT = '<revocation-snapshot>';

/** What a snapshot holds: the entries and the last moment their holder was known caught up with the cluster (epoch ms). */
export interface Snapshot {
  readonly asOf: number;
  readonly entries: readonly RevocationRecord[];
  /** Ids of entries the stream had not acknowledged (the outbox) when it was written. */
  readonly pending?: readonly string[];
  /** The gate while closed (a revocation this build cannot read, or refused for lack of room): it stays closed across a restart. */
  readonly gates?: GateTimes;
}

/** Result of reading a snapshot: absent (no file), unusable (with why), or the snapshot and how many entries were skipped as malformed. */
export type SnapshotRead =
  | { readonly ok: true; readonly snapshot: Snapshot; readonly skipped: number }
  | { readonly ok: false; readonly reason: 'missing' | 'unreadable' | 'malformed' | 'future' | 'unauthenticated'; readonly detail: string };

/**
 * Read and check `file` synchronously (at start, before anything is served). With `auth` only a
 * file sealed with the cluster's key (current or previous) is accepted — anything else is
 * `unauthenticated`, entries and all. Never throws.
 */
export function readSnapshot(file: string, nowMs: number = Date.now(), auth: BusAuth | null = null): SnapshotRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { ok: false, reason: 'missing', detail: file } : { ok: false, reason: 'unreadable', detail: `${file}: ${code ?? String(err)}` };
  }
  let o: unknown;
  try { o = JSON.parse(text); } catch (err) { return { ok: false, reason: 'malformed', detail: `${file}: ${(err as Error).message}` }; }
  if (auth !== null) {
    const outer = o as { v?: unknown; sealed?: unknown } | null;
    if (outer === null || typeof outer !== 'object' || outer.v !== SEALED_V || typeof outer.sealed !== 'string') {
      return { ok: false, reason: 'unauthenticated', detail: `${file}: not sealed with the cluster's bus key` };
    }
    const opened = auth.open(SEAL_SUBJECT, Buffer.from(outer.sealed, 'base64'), false);
    if (!opened.ok) return { ok: false, reason: 'unauthenticated', detail: `${file}: seal refused (${opened.reason}): another cluster's file, or altered` };
    try { o = JSON.parse(Buffer.from(opened.payload).toString('utf8')); } catch (err) { return { ok: false, reason: 'malformed', detail: `${file}: ${(err as Error).message}` }; }
  }
  const s = o as { v?: unknown; asOf?: unknown; entries?: unknown; pending?: unknown; gates?: unknown };
  if (s === null || typeof s !== 'object' || s.v !== SNAPSHOT_V || typeof s.asOf !== 'number' || !Number.isFinite(s.asOf) || !Array.isArray(s.entries)) {
    return { ok: false, reason: 'malformed', detail: `${file}: not a version ${SNAPSHOT_V} revocation snapshot` };
  }
  // A clock that jumped back, or a file from elsewhere: its age cannot be trusted.
  if (s.asOf > nowMs + 60_000) return { ok: false, reason: 'future', detail: `${file}: written ${Math.round((s.asOf - nowMs) / 1000)} s in the future` };
  const entries: RevocationRecord[] = [];
  let skipped = 0;
  for (const e of s.entries as unknown[]) {
    const r = e !== null && typeof e === 'object' && !Array.isArray(e) ? parseRevocationRecord(e as Record<string, unknown>) : null;
    if (r === null) skipped++;
    else entries.push(r);
  }
  const pending = Array.isArray(s.pending) ? s.pending.filter((x): x is string => typeof x === 'string') : [];
  const gates = readGates(s.gates);
  if (gates === 'malformed') return { ok: false, reason: 'malformed', detail: `${file}: gates is not {unreadableUntil, overflowUntil} in epoch ms` };
  return { ok: true, snapshot: { asOf: s.asOf, entries, ...(pending.length > 0 ? { pending } : {}), ...(gates === null ? {} : { gates }) }, skipped };
}

/** The file's `gates` (absent: null — a file written before them, or with the gate open). */
function readGates(g: unknown): GateTimes | null | 'malformed' {
  if (g === undefined) return null;
  const o = g as { unreadableUntil?: unknown; overflowUntil?: unknown } | null;
  if (o === null || typeof o !== 'object') return 'malformed';
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return ok(o.unreadableUntil) && ok(o.overflowUntil) ? { unreadableUntil: o.unreadableUntil, overflowUntil: o.overflowUntil } : 'malformed';
}

const closed = (g: GateTimes | undefined): g is GateTimes => g !== undefined && (g.unreadableUntil > Date.now() || g.overflowUntil > Date.now());

/** Writes snapshots of whatever `take()` returns, rate-limited; failures are counted and reported, never thrown. */
export class SnapshotWriter {
  writes = 0;
  failures = 0;
  /**
   * Monotonic ms of the last completed write (-Infinity: none yet). On Date.now() a wall clock stepped back held the
   * next write for the step: revocations made meanwhile were missing from the file a restart without the bus serves from.
   */
  private lastWrittenAt = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private writing = false;
  private current: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly file: string,
    /** The snapshot to write, taken when the write starts. */
    private readonly take: () => Snapshot,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
    /** Seal the content with the bus key (v2); null: write v1 unsealed. */
    private readonly auth: BusAuth | null = null,
  ) {}

  /** Something changed: write within `intervalMs`. */
  touch(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.timer !== null || this.writing) return;
    const wait = Math.max(0, this.lastWrittenAt + this.intervalMs - performance.now());
    this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, wait);
    this.timer.unref();
  }

  /** Write now (at close: the final state and its caught-up time); after a write in progress, if any. */
  async flush(): Promise<void> {
    while (this.current !== null) await this.current;
    this.current = this.write();
    try { await this.current; } finally { this.current = null; }
    if (this.dirty && !this.closed) this.touch();
  }

  private async write(): Promise<void> {
    this.dirty = false;
    this.writing = true;
    const snap = this.take();
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        const body = JSON.stringify({ v: SNAPSHOT_V, asOf: snap.asOf, entries: snap.entries, ...(snap.pending !== undefined && snap.pending.length > 0 ? { pending: snap.pending } : {}), ...(closed(snap.gates) ? { gates: snap.gates } : {}) });
        await fh.writeFile(this.auth === null ? body : JSON.stringify({ v: SEALED_V, sealed: Buffer.from(this.auth.seal(SEAL_SUBJECT, Buffer.from(body, 'utf8'))).toString('base64') }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o600); // an existing temp file keeps its mode on open
      await rename(tmp, this.file);
      this.writes++;
      this.lastWrittenAt = performance.now();
    } catch (err) {
      this.failures++;
      await unlink(tmp).catch(() => {});
      this.onError(err as Error);
    } finally {
      this.writing = false;
    }
  }

  /** Stop the timer; `flush()` still works once more for the final write. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
