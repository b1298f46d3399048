// The upstream hop of a proxied WebSocket: the ws client opened towards the picked target (the
// request's headers for that hop, the client's subprotocol offer, masks drawn from a pooled random
// buffer), the subprotocol the upstream selected, and what a failed handshake tells the client.
import { randomFillSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import { proxyError, type ProxyError } from '../errors.js';
import { wsClient } from '../lazy-packages.js';
import type { Target } from '../upstream/upstream-pool.js';

// ws masks client frames with a random key and copies the payload while masking, in send()
// itself — except when the key happens to be all zeros (1 in 2^32), when it keeps a reference
// to the payload. uWS neuters a message's ArrayBuffer when the message handler returns, so the
// key is never zero here: send() never keeps the (uncopied) uWS buffer.
const MASK_POOL = Buffer.alloc(8 * 1024);
let maskAt = MASK_POOL.length;
function generateMask(mask: Buffer): void {
  if (maskAt + 4 > MASK_POOL.length) { randomFillSync(MASK_POOL); maskAt = 0; }
  mask[0] = MASK_POOL[maskAt++]!;
  mask[1] = MASK_POOL[maskAt++]!;
  mask[2] = MASK_POOL[maskAt++]!;
  mask[3] = MASK_POOL[maskAt++]!;
  if ((mask[0] | mask[1] | mask[2] | mask[3]) === 0) mask[0] = 1;
}

/** Request headers the ws client writes itself (or that belong to the client's hop only). */
const OWN_HEADERS = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);

/**
 * Start the upstream handshake to `t`: `headers` is the flat list Listener.send built for the
 * upstream (its Host value at `hostIdx` becomes the target's), `protocols` the offered subprotocols.
 * They go as a plain `Sec-WebSocket-Protocol` header, not as ws's own list: ws fails a 101 that selects
 * none of its list, which RFC 6455 §4.1 leaves to the client (selectedProtocol() reads the answer).
 * Throws when node:http refuses a header value (uWS accepted it): the client's request is at fault.
 */
export function openUpstream(t: Target, path: string, headers: readonly string[], hostIdx: number, protocols: readonly string[], maxMessageBytes: number): WebSocket {
  const out: Record<string, string | string[]> = Object.create(null); // `__proto__` is a field name like any other
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i]!;
    if (OWN_HEADERS.has(k)) continue;
    const v = i + 1 === hostIdx ? t.hostPort : headers[i + 1]!;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const url = (t.origin.startsWith('https:') ? 'wss:' : 'ws:') + t.origin.slice(t.origin.indexOf('//')) + path;
  if (protocols.length > 0) out['sec-websocket-protocol'] = protocols.join(', ');
  return new (wsClient())(url, [], {
    headers: out,
    perMessageDeflate: false,
    maxPayload: maxMessageBytes,
    followRedirects: false,
    generateMask,
  });
}

/**
 * From ws's `upgrade` event (the upstream's 101, before ws checks it): the subprotocol the upstream
 * selected among `offered`, taken off `res` so ws (offered none itself) accepts the answer; '' for none,
 * passed on as none (the client decides). One never offered stays on `res`: ws fails the handshake (502).
 */
export function selectedProtocol(res: IncomingMessage, offered: readonly string[]): string {
  const v = res.headers['sec-websocket-protocol'];
  if (typeof v !== 'string' || !offered.includes(v)) return '';
  delete res.headers['sec-websocket-protocol'];
  return v;
}

/**
 * The upstream handshake failed with `code` (ws's error code): a connection-level one (refused,
 * reset, unreachable: `connection`, the target is at fault) or an invalid answer (subprotocol not
 * offered, bad accept key…); the answer to the client and the upstream-error metric.
 */
export function handshakeFailure(upstream: string, code: string): { error: ProxyError; metric: string; connection: boolean } {
  return /^E[A-Z]+$/.test(code)
    ? { error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" refused the WebSocket connection`), metric: 'ws_connect', connection: true }
    : { error: proxyError('PORTCULLIS_ERR_UPSTREAM_UNAVAILABLE', `upstream "${upstream}" sent an invalid WebSocket handshake`), metric: 'ws_handshake', connection: false };
}
