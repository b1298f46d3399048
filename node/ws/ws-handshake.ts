// RFC 6455 §4.2.1 checks of a client's opening handshake on a `websocket: true` route. The
// pinned uWebSockets.js routes every GET with a 24-character Sec-WebSocket-Key to the
// WebSocket handler whatever Upgrade, Connection and Sec-WebSocket-Version say, so we check.
import { proxyError } from '../errors.js';
import type { StageResult } from '../pipeline/context.js';

/** The only version RFC 6455 defines; sent back with 426 (§4.4). */
export const WEBSOCKET_VERSION = '13';

/** A valid handshake's parts the proxy needs; `offered` is the comma-joined Sec-WebSocket-Protocol or null. */
export interface Handshake {
  readonly kind: 'handshake';
  readonly key: string;
  readonly offered: string | null;
  /** An `Authorization: Bearer …` header came with it (two credentials with a bearer subprotocol). */
  readonly bearerHeader: boolean;
}

/** Not an upgrade attempt: neither a Sec-WebSocket-Key nor `Upgrade: websocket` (served as a plain request). */
export const PLAIN = Object.freeze({ kind: 'plain' as const });

const invalid = (message: string, reason: string): StageResult & { kind: 'deny' } =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_WEBSOCKET_HANDSHAKE', message)), reason });
const NOT_GET = invalid('a WebSocket upgrade must be a GET request', 'ws_handshake_method');
const NO_UPGRADE = invalid('a WebSocket upgrade needs "Upgrade: websocket"', 'ws_handshake_upgrade');
const NO_CONNECTION = invalid('a WebSocket upgrade needs "Connection: Upgrade"', 'ws_handshake_connection');
const BAD_KEY = invalid('Sec-WebSocket-Key must be the base64 encoding of 16 bytes, sent once', 'ws_handshake_key');
const TWO_VERSIONS = invalid('Sec-WebSocket-Version sent more than once', 'ws_handshake_version');
const NO_CONTEXT = invalid('the WebSocket upgrade request could not be accepted', 'ws_handshake_invalid');
const VERSION: StageResult & { kind: 'deny' } = Object.freeze({
  kind: 'deny' as const,
  error: Object.freeze(proxyError('PORTCULLIS_ERR_WEBSOCKET_VERSION', `Sec-WebSocket-Version must be ${WEBSOCKET_VERSION}`)),
  reason: 'ws_version',
});

/** 16 bytes in base64: 22 characters and "==" (the check `ws` applies on its servers). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const BEARER_AUTHORIZATION = /^[ \t]*bearer(?:[ \t]|$)/i;

/** True when the comma-separated list `v` holds `token` (lower-case), compared case-insensitively. */
function listHas(v: string, token: string): boolean {
  const l = v.toLowerCase();
  if (l.indexOf(token) < 0) return false; // the common "no" costs no split
  for (const part of l.split(',')) if (part.trim() === token) return true;
  return false;
}

/**
 * Judge a request on a websocket route. `routedAsUpgrade`: uWS sent it to the WebSocket
 * handler (it can be upgraded). Returns PLAIN for an ordinary request, the handshake's parts,
 * or a denial: 426 (PORTCULLIS_ERR_WEBSOCKET_VERSION, answered with `Sec-WebSocket-Version: 13`)
 * for a missing or other version, 400 (PORTCULLIS_ERR_WEBSOCKET_HANDSHAKE) for anything else.
 * HTTP/1.1 is not checked here: the pinned uWS closes HTTP/1.0 requests before any handler.
 * One pass over the headers.
 */
export function checkHandshake(method: string, headers: readonly string[], routedAsUpgrade: boolean): Handshake | typeof PLAIN | (StageResult & { kind: 'deny' }) {
  let key: string | null = null;
  let keys = 0;
  let version: string | null = null;
  let versions = 0;
  let upgradeWebsocket = false;
  let connectionUpgrade = false;
  let offered: string | null = null;
  let bearerHeader = false;
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i]!;
    const v = headers[i + 1]!;
    switch (k) {
      case 'sec-websocket-key': key = v.trim(); keys++; break;
      case 'sec-websocket-version': version = v.trim(); versions++; break;
      case 'upgrade': if (listHas(v, 'websocket')) upgradeWebsocket = true; break;
      case 'connection': if (listHas(v, 'upgrade')) connectionUpgrade = true; break;
      case 'sec-websocket-protocol': offered = offered === null ? v : `${offered},${v}`; break;
      case 'authorization': if (BEARER_AUTHORIZATION.test(v)) bearerHeader = true; break;
      default: break;
    }
  }
  if (keys === 0 && !upgradeWebsocket) return PLAIN;
  if (method !== 'GET') return NOT_GET;
  if (!upgradeWebsocket) return NO_UPGRADE;
  if (!connectionUpgrade) return NO_CONNECTION;
  if (keys !== 1 || !KEY.test(key!)) return BAD_KEY;
  if (versions > 1) return TWO_VERSIONS;
  if (version !== WEBSOCKET_VERSION) return VERSION;
  // every check passed but uWS did not route it to its WebSocket handler: nothing to upgrade with
  if (!routedAsUpgrade) return NO_CONTEXT;
  return { kind: 'handshake', key: key!, offered, bearerHeader };
}
