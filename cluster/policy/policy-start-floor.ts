// The floors a member that runs no version yet holds the bucket's `current` to: its state file's
// version, the version its peers run as their sealed heartbeats say (heard for peerWaitMs), and
// the newest authentic version still in the bucket's history. Whoever may write the bucket without
// the bus key can copy an old authentic entry onto `current`, but can forge none of these.
import { constants, gunzipSync } from 'node:zlib';
import type { NatsConnection } from 'nats';
import type { BusAuth } from '../protocol/index.js';
import { decodeEntry, openEnvelope } from './policy-messages.js';
import { stateFileVersion } from './policy-state-file.js';
import { collectMemberStatus } from './policy-status.js';
import type { PolicyStore, StoredValue } from './policy-store.js';

/**
 * How long a starting member listens for its peers' heartbeats, ms: one heartbeat period (`cluster.heartbeat_ms`,
 * 1 s by default; the cluster's members share it) and half of one for a late timer — as long as membership waits
 * before it counts its view settled.
 */
export function peerWaitMs(heartbeatMs: number): number {
  return heartbeatMs * 1.5;
}
/** Longest wait for the bucket's history at start, ms; past it the history sets no floor (the others stay). */
export const HISTORY_WAIT_MS = 5_000;

/** The highest version a peer runs, as its heartbeat says. */
export interface PeerVersion { readonly version: number; readonly digest: string | null; readonly member: string }
/** The newest authentic entry in the bucket's history and its version. */
export interface HistoryBest { readonly version: number; readonly value: StoredValue }
/** Everything a starting member holds `current` to. */
export interface StartFloors { readonly stateFile: number; readonly peers: PeerVersion | null; readonly history: HistoryBest | null }
/** What a starting member does with an authentic entry: take it, or not (older than `floor`, set by `by`), then maybe the history's newest `instead`. */
export type StartVerdict = { readonly kind: 'take' } | { readonly kind: 'older'; readonly floor: number; readonly by: string; readonly instead: StoredValue | null };

/**
 * How long a member that heard no peer within its own `peerWaitMs` listens in all, ms: one and a half of the
 * default period, which every earlier release beat at. A peer's period is its own setting: before, a member
 * with `heartbeat_ms: 100` listened 150 ms, missed its peer beating every second, and took an old version
 * copied back onto `current` (with the history flushed) — the rollback the peers' floor is there to stop.
 */
export const PEER_WAIT_ALONE_MS = 1_500;

/**
 * Listen on `<p>.members` from now; resolves after `ms` with the highest version a peer runs — when none
 * was heard by then, after PEER_WAIT_ALONE_MS in all. Null when none was heard, on a bus error, and without
 * a bus key (an unsealed heartbeat proves nothing).
 */
export async function listenForPeers(nc: NatsConnection, prefix: string, auth: BusAuth | null, ms: number): Promise<PeerVersion | null> {
  if (auth === null) return null;
  const heard = async (wait: number): Promise<PeerVersion | null> => collectMemberStatus(nc, prefix, auth, wait).then((rows) => {
    let best: PeerVersion | null = null;
    for (const r of rows.values()) if (r.version > (best?.version ?? 0)) best = { version: r.version, digest: r.digest, member: r.member };
    return best;
  }, () => null);
  const first = await heard(ms);
  return first !== null || ms >= PEER_WAIT_ALONE_MS ? first : heard(PEER_WAIT_ALONE_MS - ms);
}

/** The version inside an authentic payload, from the first bytes of its gzip (an entry's JSON starts `{"v":1,"version":N,`); a full decode otherwise; 0 when unreadable. */
export function payloadVersion(payload: Uint8Array): number {
  try {
    const head = gunzipSync(payload.subarray(0, 256), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 1 << 20 }).toString('latin1');
    const m = /^\{"v":1,"version":(\d{1,15}),/.exec(head);
    if (m !== null) return Number(m[1]);
  } catch { /* not a gzip head we know: decode it whole */ }
  const d = decodeEntry(payload);
  return d.ok ? d.entry.version : 0;
}

/** The newest authentic entry still in the history; null when there is none, or the history is not read within HISTORY_WAIT_MS. */
export async function newestInHistory(store: PolicyStore, auth: BusAuth | null, waitMs = HISTORY_WAIT_MS): Promise<HistoryBest | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => { timer = setTimeout(() => r(null), waitMs); });
  const read = (async () => {
    let best: HistoryBest | null = null;
    for (const h of await store.history()) {
      const o = openEnvelope(h.value, store.bucket, auth);
      const version = o.ok ? payloadVersion(o.payload) : 0;
      if (version > (best?.version ?? 0)) best = { version, value: h };
    }
    return best;
  })().catch(() => null);
  try { return await Promise.race([read, late]); } finally { clearTimeout(timer); }
}

/**
 * Why an entry falls below a floor (the floor and who set it), or null. A peer's version counts as
 * it does at that peer: the same number with another digest is not newer there, so not here either.
 */
export function olderThan(e: { readonly version: number; readonly digest: string }, f: StartFloors): { floor: number; by: string } | null {
  const p = f.peers;
  if (p !== null && e.version < p.version) return { floor: p.version, by: `the version peer ${p.member} runs` };
  if (p !== null && e.version === p.version && p.digest !== null && e.digest !== p.digest) return { floor: p.version, by: `the version peer ${p.member} runs (same number, another digest: not newer there)` };
  if (f.history !== null && e.version < f.history.version) return { floor: f.history.version, by: 'the newest authentic version in the bucket history' };
  if (e.version < f.stateFile) return { floor: f.stateFile, by: 'the state file\'s version' };
  return null;
}

/** Judge the entry at bucket `revision`: older than a floor → the history's newest (judged again once decoded) when it is not this one and reaches every floor. */
export function judgeStart(e: { readonly version: number; readonly digest: string }, revision: number, f: StartFloors): StartVerdict {
  const why = olderThan(e, f);
  if (why === null) return { kind: 'take' };
  const h = f.history;
  const instead = h !== null && h.value.revision !== revision && h.version >= Math.max(f.stateFile, f.peers?.version ?? 0) ? h.value : null;
  return { kind: 'older', ...why, instead };
}

/** What the first version is held to: the state file's version, the peers' (`peers`, heard by now), the bucket history's newest. */
export async function startFloors(peers: Promise<PeerVersion | null> | null, store: PolicyStore | null, stateFile: string | null, bucket: string, auth: BusAuth | null): Promise<StartFloors> {
  const [heard, history] = await Promise.all([peers ?? null, store === null ? null : newestInHistory(store, auth)]);
  return { stateFile: stateFileVersion(stateFile, bucket, auth), peers: heard, history };
}
