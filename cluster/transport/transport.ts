// The bus transport contract: bytes in, bytes out, subjects with NATS wildcards,
// request/reply and connection status. Implementations: NATS, node:cluster IPC
// (worker side and primary hub) and in-process (single instance without a bus).

/** One delivered message. */
export interface Incoming {
  readonly subject: string;
  readonly data: Uint8Array;
  /** True when the sender awaits an answer (a `request`). */
  readonly isRequest: boolean;
  /** Answer a request (no-op for a plain publish). */
  respond(data: Uint8Array): void;
}

/** Called once per delivered message; must not throw (errors are counted and swallowed). */
export type IncomingHandler = (msg: Incoming) => void;
/**
 * The log calls a transport makes; pino's Logger satisfies it. Declared here so that
 * transport/ depends on nothing above it (no node/log import).
 */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Connection state changes reported by `onStatus`. */
export type TransportStatus = 'connected' | 'disconnected';
/** Which implementation a transport is. */
export type TransportKind = 'nats' | 'ipc-worker' | 'ipc-hub' | 'local';

/** A transport failure as plain data (see node/errors.ts: callers branch on `code`). */
export interface BusError extends Error {
  readonly code: 'BUS_TIMEOUT' | 'BUS_NO_RESPONDERS' | 'BUS_DISCONNECTED' | 'BUS_CLOSED';
}

/** Build a BusError. */
export function busError(code: BusError['code'], message: string): BusError {
  return Object.assign(new Error(message), { code });
}

/** Bytes in, bytes out. Handlers are invoked asynchronously, never inside `publish`. */
export interface Transport {
  readonly kind: TransportKind;
  /**
   * Fire and forget. While disconnected NATS buffers (bounded by the client); IPC drops and counts.
   * `msgId` (NATS only): sent as `Nats-Msg-Id`, so a JetStream stream on `subject` keeps one copy per id.
   */
  publish(subject: string, data: Uint8Array, msgId?: string): void;
  /** Subscribe to a subject or wildcard pattern; returns the unsubscribe function. Survives reconnects. */
  subscribe(subject: string, handler: IncomingHandler): () => void;
  /**
   * Request/reply: resolves with the first answer — with `accept`, the first one it takes (others
   * are ignored and counted; NATS, where others can answer); rejects with a BusError (timeout, no
   * responders, disconnected). IPC and in-process transports carry no sealed replies and ignore `accept`.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number, accept?: (data: Uint8Array) => boolean): Promise<Uint8Array>;
  isConnected(): boolean;
  /** Status changes; returns the unsubscribe function. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /** Counters for metrics (`published`, `delivered`, `dropped_disconnected`…). */
  stats(): Record<string, number>;
  /** Stop: unsubscribe, drain where the transport can. Idempotent. */
  close(): Promise<void>;
}
