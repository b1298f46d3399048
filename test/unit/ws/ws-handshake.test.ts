// checkHandshake: what is an upgrade attempt at all (a key or `Upgrade: websocket`), which
// RFC 6455 rule refuses it, and that list-valued headers are read token by token.
import { describe, it, expect } from 'vitest';
import { checkHandshake } from '../../../node/ws/ws-handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const valid = ['host', 'x', 'upgrade', 'websocket', 'connection', 'Upgrade', 'sec-websocket-key', KEY, 'sec-websocket-version', '13'];
const without = (name: string): string[] => { const h = [...valid]; const i = h.indexOf(name); h.splice(i, 2); return h; };
const reason = (r: ReturnType<typeof checkHandshake>): string => (r.kind === 'deny' ? r.reason : r.kind);

describe('checkHandshake', () => {
  it('a request without a key and without Upgrade: websocket is a plain request, whatever else it says', () => {
    expect(reason(checkHandshake('GET', ['host', 'x'], false))).toBe('plain');
    expect(reason(checkHandshake('POST', ['upgrade', 'h2c', 'connection', 'Upgrade, HTTP2-Settings'], false))).toBe('plain');
  });

  it('accepts a valid handshake, with list-valued and mixed-case Upgrade/Connection', () => {
    expect(checkHandshake('GET', valid, true)).toMatchObject({ kind: 'handshake', key: KEY, offered: null, bearerHeader: false });
    const h = ['upgrade', 'h2c, WebSocket', 'connection', 'keep-alive', 'connection', 'UPGRADE', 'sec-websocket-key', KEY, 'sec-websocket-version', '13',
      'sec-websocket-protocol', 'a', 'sec-websocket-protocol', 'b', 'authorization', 'Bearer t'];
    expect(checkHandshake('GET', h, true)).toMatchObject({ kind: 'handshake', offered: 'a,b', bearerHeader: true });
  });

  it('names the rule that refused', () => {
    expect(reason(checkHandshake('POST', valid, false))).toBe('ws_handshake_method');
    expect(reason(checkHandshake('GET', without('upgrade'), true))).toBe('ws_handshake_upgrade');
    expect(reason(checkHandshake('GET', valid.map((v) => (v === 'websocket' ? 'websocketx' : v)), true))).toBe('ws_handshake_upgrade');
    expect(reason(checkHandshake('GET', without('connection'), true))).toBe('ws_handshake_connection');
    expect(reason(checkHandshake('GET', valid.map((v) => (v === 'Upgrade' ? 'upgrades' : v)), true))).toBe('ws_handshake_connection');
    expect(reason(checkHandshake('GET', without('sec-websocket-key'), false))).toBe('ws_handshake_key');
    expect(reason(checkHandshake('GET', valid.map((v) => (v === KEY ? 'AAAAAAAAAAAAAAAAAAAAAAA=' : v)), true))).toBe('ws_handshake_key');
    expect(reason(checkHandshake('GET', [...valid, 'sec-websocket-key', KEY], true))).toBe('ws_handshake_key');
    expect(reason(checkHandshake('GET', [...valid, 'sec-websocket-version', '13'], true))).toBe('ws_handshake_version');
    expect(reason(checkHandshake('GET', without('sec-websocket-version'), true))).toBe('ws_version');
    expect(reason(checkHandshake('GET', valid.map((v) => (v === '13' ? '8' : v)), true))).toBe('ws_version');
    expect(reason(checkHandshake('GET', valid, false))).toBe('ws_handshake_invalid');
  });
});
