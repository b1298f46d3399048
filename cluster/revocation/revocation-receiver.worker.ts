// The revocation receiver thread (`cluster.revocation.receiver: thread`): its own core NATS
// subscription to `<p>.revocations.>` (no JetStream: replay stays on the main thread), every
// message checked as the main thread's bus checks it — HMAC bound to the subject, key id,
// freshness, codec, kind matching the subject, the admin API's rules — and only then written
// to the shared ring the request thread drains before every revocation check.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { busAuthFrom, Codec, MessageBus, REVOCATION_KINDS, subjects, type BusAuth, type BusRejectReason, type RevocationAdded } from '../protocol/index.js';
import { natsConnectionOptions, NatsTransport, type NatsConfig } from '../transport/index.js';
import { checkRevocationRecord } from './revocation-request.js';
import { RingCell, RingWriter } from './revocation-ring.js';
import type { BusAuthSettings } from './revocation-settings.js';
import { wallNow } from './revocation-time.js';

/** What the main thread hands the thread (plain data; secrets are read here from the same variables and files). */
export interface ReceiverWorkerData {
  readonly ring: SharedArrayBuffer;
  readonly nats: NatsConfig;
  readonly auth: BusAuthSettings;
  readonly prefix: string;
  /** NATS connection name (shown by the server's monitoring). */
  readonly name: string;
  readonly maxLifetimeS: number;
}

/** Messages to the main thread. */
export type ReceiverEvent =
  | { readonly type: 'wake' }
  | { readonly type: 'status'; readonly connected: boolean }
  /** The thread's OS thread id (Linux), so the main thread can read its CPU time from /proc. */
  | { readonly type: 'tid'; readonly tid: number }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly obj: object; readonly msg: string };

const REFUSAL_CELL: Record<BusRejectReason, number> = {
  unsigned: RingCell.refusedUnsigned, bad_mac: RingCell.refusedBadMac, unknown_key: RingCell.refusedUnknownKey, stale: RingCell.refusedStale, invalid: RingCell.refusedInvalid,
};

function main(port: NonNullable<typeof parentPort>, d: ReceiverWorkerData): void {
  const post = (e: ReceiverEvent): void => port.postMessage(e);
  const logger = {
    info: (obj: object, msg: string) => post({ type: 'log', level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => post({ type: 'log', level: 'warn', obj, msg }),
    error: (obj: object, msg: string) => post({ type: 'log', level: 'error', obj, msg }),
  };
  const ring = new RingWriter(d.ring);
  const auth: BusAuth | null = busAuthFrom(d.auth);
  const transport = new NatsTransport({ connection: natsConnectionOptions(d.nats, d.name), logger });
  const codec = new Codec();
  const bus = new MessageBus(transport, codec, subjects(d.prefix), auth);
  bus.onReject = (reason) => ring.count(REFUSAL_CELL[reason]);
  codec.onDrop = () => ring.count(RingCell.refusedInvalid);
  const kinds = new Map<string, number>(REVOCATION_KINDS.map((k, i) => [bus.subjects.revocation(k), i]));
  bus.subscribe(bus.subjects.revocationsAll, (msg, incoming) => {
    const kind = kinds.get(incoming.subject);
    if (kind === undefined || msg.type !== 'revocation.added' || msg.kind !== REVOCATION_KINDS[kind]) { ring.count(RingCell.refusedInvalid); return; }
    const { publishedAt: _p, type: _t, v: _v, ...raw } = msg as RevocationAdded;
    if (!checkRevocationRecord(raw, { nowMs: incoming.signedAt ?? Date.now(), maxLifetimeS: d.maxLifetimeS }).ok) { ring.count(RingCell.refusedInvalid); return; }
    if (ring.write(kind, incoming.signedAt, wallNow(), incoming.data) && ring.claimWake()) post({ type: 'wake' });
  });
  transport.onStatus((s) => {
    ring.setConnected(s === 'connected');
    post({ type: 'status', connected: s === 'connected' });
  });
  port.on('message', (m: unknown) => {
    if (m === 'close') void transport.close().finally(() => port.close());
  });
  transport.start();
  try {
    post({ type: 'tid', tid: Number(readlinkSync('/proc/thread-self').split('/').pop()) });
  } catch { /* not Linux: no CPU figure */ }
}

if (parentPort !== null) main(parentPort, workerData as ReceiverWorkerData);
