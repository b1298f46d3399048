// Under `serve --workers N` on NATS the primary answers POST /revocations but serves no requests: each
// revocation it makes goes to its workers over node:cluster IPC at once, beside NATS (enforced while the
// bus is away too), and a booting worker asks for all of them once it listens (the live hand-over missed it).
import cluster from 'node:cluster';
import { parseRevocationRecord, revocationAdded, type RevocationRecord } from '../protocol/messages.js';
import type { RevocationKind } from '../protocol/subjects.js';
import type { RevocationActor } from './revocation-actor.js';
import type { RevocationStore } from './revocation-store.js';
import { wallNow } from './revocation-time.js';

/** The IPC message: revocations the primary made (plain data: IPC stays inside one process tree). */
interface FromPrimary { readonly type: 'revocation.from_primary'; readonly v: 1; readonly records: readonly Record<string, unknown>[] }
/** A booting worker, listening now, asks for the revocations the primary made. */
interface AskPrimary { readonly type: 'revocation.ask_primary'; readonly v: 1 }

/** Records per IPC message when a booting worker is handed the primary's revocations. */
const PAGE = 256;

/**
 * Primary: hand every revocation made here (origin = this member, applied to its store) to each
 * connected worker, and all of them to a worker that asks as it boots (forked after the revocation,
 * or still booting when it was handed over: the snapshot it loaded may predate it and the bus may be
 * away). Returns the unsubscribe function.
 */
export function handRevocationsToWorkers(store: RevocationStore, memberId: string): () => void {
  const unsubscribe = store.onRevoked((r) => {
    if (r.origin !== memberId) return;
    const m: FromPrimary = { type: 'revocation.from_primary', v: 1, records: [{ ...r }] };
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w?.isConnected() !== true) continue;
      try { w.send(m); } catch { /* the worker is leaving: its replacement asks again */ }
    }
  });
  const asked = (w: { isConnected(): boolean; send(m: unknown): boolean }, m: unknown): void => {
    const a = m as Partial<AskPrimary> | null;
    if (a === null || typeof a !== 'object' || a.type !== 'revocation.ask_primary' || a.v !== 1) return;
    const own: RevocationRecord[] = store.list().filter((r) => r.origin === memberId);
    for (let i = 0; i < own.length && w.isConnected(); i += PAGE) {
      try { w.send({ type: 'revocation.from_primary', v: 1, records: own.slice(i, i + PAGE).map((r) => ({ ...r })) } satisfies FromPrimary); } catch { return; }
    }
  };
  cluster.on('message', asked);
  return () => { unsubscribe(); cluster.off('message', asked); };
}

/**
 * Worker: apply the primary's revocations through the actor (the admin rules, judged now; a second copy
 * from NATS is a duplicate), and ask for those it made before this listener existed. Returns the unsubscribe function.
 */
export function takeRevocationsFromPrimary(actor: RevocationActor, subject: (kind: RevocationKind) => string): () => void {
  const on = (m: unknown): void => {
    const f = m as Partial<FromPrimary> | null;
    if (f === null || typeof f !== 'object' || f.type !== 'revocation.from_primary' || f.v !== 1 || !Array.isArray(f.records)) return;
    for (const x of f.records) {
      const r = typeof x === 'object' && x !== null ? parseRevocationRecord(x) : null;
      if (r !== null) actor.receiveDirect(revocationAdded(r, r.createdAt), subject(r.kind), wallNow(), 'primary');
    }
  };
  process.on('message', on);
  if (process.connected) process.send?.({ type: 'revocation.ask_primary', v: 1 } satisfies AskPrimary);
  return () => { process.off('message', on); };
}
