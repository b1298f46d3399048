// Under `serve --workers N` on NATS the primary answers POST /revocations but serves no requests:
// each revocation it makes goes to its workers over node:cluster IPC at once, beside NATS, so the
// instance enforces it while the bus is away too (the stream's copy follows when the bus is back).
import cluster from 'node:cluster';
import { parseRevocationRecord, revocationAdded } from '../protocol/messages.js';
import type { RevocationKind } from '../protocol/subjects.js';
import type { RevocationActor } from './revocation-actor.js';
import type { RevocationStore } from './revocation-store.js';
import { wallNow } from './revocation-time.js';

/** The IPC message: one revocation the primary made (plain data: IPC stays inside one process tree). */
interface FromPrimary { readonly type: 'revocation.from_primary'; readonly v: 1; readonly record: Record<string, unknown> }

/**
 * Primary: hand every revocation made here (origin = this member, applied to its store) to each
 * connected worker. Workers booting meanwhile replay it from the stream or load it from the snapshot.
 * Returns the unsubscribe function.
 */
export function handRevocationsToWorkers(store: RevocationStore, memberId: string): () => void {
  return store.onRevoked((r) => {
    if (r.origin !== memberId) return;
    const m: FromPrimary = { type: 'revocation.from_primary', v: 1, record: { ...r } };
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w?.isConnected() !== true) continue;
      try { w.send(m); } catch { /* the worker is leaving: its replacement replays the stream */ }
    }
  });
}

/** Worker: apply the primary's revocations through the actor (the admin rules, judged now; a second copy from NATS is a duplicate). Returns the unsubscribe function. */
export function takeRevocationsFromPrimary(actor: RevocationActor, subject: (kind: RevocationKind) => string): () => void {
  const on = (m: unknown): void => {
    const f = m as Partial<FromPrimary> | null;
    if (f === null || typeof f !== 'object' || f.type !== 'revocation.from_primary' || f.v !== 1 || typeof f.record !== 'object' || f.record === null) return;
    const r = parseRevocationRecord(f.record);
    if (r !== null) actor.receiveDirect(revocationAdded(r, r.createdAt), subject(r.kind), wallNow(), 'primary');
  };
  process.on('message', on);
  return () => { process.off('message', on); };
}
