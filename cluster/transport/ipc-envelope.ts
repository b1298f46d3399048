// The frame carried over node:cluster IPC between a worker and the primary hub. The
// payload is the protocol bytes (base64, so any IPC serialization mode carries them).

/** One IPC frame. `pcbus` marks it as ours among the supervisor's own messages. */
export type IpcEnvelope =
  /** worker → hub: start receiving subjects matching this pattern. */
  | { readonly pcbus: 1; readonly op: 'sub'; readonly subject: string }
  /** worker → hub: stop receiving this pattern. */
  | { readonly pcbus: 1; readonly op: 'unsub'; readonly subject: string }
  /** both ways: a message; `reply` set for a request. */
  | { readonly pcbus: 1; readonly op: 'pub'; readonly subject: string; readonly data: string; readonly reply: string | null }
  /** hub → worker: nobody else subscribes to the request's subject. */
  | { readonly pcbus: 1; readonly op: 'noresp'; readonly reply: string }
  /** hub → worker: the hub (re)attached; send your subscriptions again. */
  | { readonly pcbus: 1; readonly op: 'hello' };

/** Reply subjects: `_INBOX.<owner>.<n>`, owner `hub` or `w<worker id>`. */
export const INBOX = '_INBOX.';

/** Is this IPC message one of ours, well formed? (Anything else on the channel is the supervisor's.) */
export function isEnvelope(m: unknown): m is IpcEnvelope {
  if (m === null || typeof m !== 'object') return false;
  const e = m as Record<string, unknown>;
  if (e.pcbus !== 1) return false;
  switch (e.op) {
    case 'sub':
    case 'unsub': return typeof e.subject === 'string';
    case 'pub': return typeof e.subject === 'string' && typeof e.data === 'string' && (e.reply === null || typeof e.reply === 'string');
    case 'noresp': return typeof e.reply === 'string';
    case 'hello': return true;
    default: return false;
  }
}

/** Bytes → base64 without copying the buffer. */
export function toBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

/** base64 → bytes. */
export function fromBase64(s: string): Uint8Array {
  return Buffer.from(s, 'base64');
}

/** The owner token of a reply subject (`hub`, `w3`), or null. */
export function inboxOwner(subject: string): string | null {
  if (!subject.startsWith(INBOX)) return null;
  const rest = subject.slice(INBOX.length);
  const dot = rest.indexOf('.');
  return dot <= 0 ? null : rest.slice(0, dot);
}
