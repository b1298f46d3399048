// The bearer subprotocol convention and close-code rules: the token entry is always taken out
// of the offered list (so it can never be forwarded or selected), malformed and repeated
// entries are refused, and only sendable close codes are relayed.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BEARER_PROTOCOL_PREFIX, bearerProtocol, clampReason, parseOfferedProtocols, sendableCloseCode } from '../../../node/ws/ws-protocol.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

describe('parseOfferedProtocols', () => {
  it('takes the bearer entry out and decodes its token', () => {
    const r = parseOfferedProtocols(`${bearerProtocol(JWT)}, chat, v2.example`);
    expect(r).toEqual({ ok: true, protocols: ['chat', 'v2.example'], token: JWT });
  });

  it('keeps the order of the other protocols and tolerates spaces and empty items', () => {
    expect(parseOfferedProtocols(' a ,, b,c ')).toEqual({ ok: true, protocols: ['a', 'b', 'c'], token: null });
    expect(parseOfferedProtocols('')).toEqual({ ok: true, protocols: [], token: null });
  });

  it('refuses two bearer entries', () => {
    const r = parseOfferedProtocols(`${bearerProtocol(JWT)},${bearerProtocol('other')}`);
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.reason).toBe('multiple_token_protocols');
  });

  it.each([
    ['empty token', BEARER_PROTOCOL_PREFIX],
    ['not base64url', `${BEARER_PROTOCOL_PREFIX}abc=def`],
    ['decodes to a non-b64token', BEARER_PROTOCOL_PREFIX + Buffer.from('two words').toString('base64url')],
  ])('refuses a malformed bearer entry: %s', (_name, entry) => {
    const r = parseOfferedProtocols(`chat, ${entry}`);
    expect(r.ok === false && r.reason).toMatch(/malformed/);
  });

  it('refuses a value that is not an RFC 7230 token', () => {
    const r = parseOfferedProtocols('chat, a/b');
    expect(r.ok === false && r.reason).toBe('malformed_protocol');
  });

  it('refuses a subprotocol offered twice (RFC 6455 §4.1: unique values)', () => {
    const r = parseOfferedProtocols('chat, v2, chat');
    expect(r.ok === false && r.reason).toBe('malformed_protocol');
  });

  it('property: any b64token survives the round trip and never appears among the protocols', () => {
    const b64 = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,200}={0,2}$/);
    fc.assert(fc.property(b64, fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9.]{0,20}$/), { maxLength: 4 }), (tok, others) => {
      const header = [...others, bearerProtocol(tok)].join(', ');
      const r = parseOfferedProtocols(header);
      expect(r).toEqual({ ok: true, protocols: others, token: tok });
      if (r.ok) for (const p of r.protocols) expect(p.startsWith(BEARER_PROTOCOL_PREFIX)).toBe(false);
    }));
  });
});

describe('close codes', () => {
  it.each([[1000, true], [1001, true], [1004, false], [1005, false], [1006, false], [1008, true], [1014, true], [1015, false], [2999, false], [3000, true], [4999, true], [5000, false], [999, false]])(
    '%i sendable: %s', (code, want) => { expect(sendableCloseCode(code)).toBe(want); },
  );

  it('clamps reasons to 123 bytes of UTF-8 without splitting a character', () => {
    expect(clampReason('short')).toBe('short');
    const long = 'é'.repeat(100); // 200 bytes
    const c = clampReason(long);
    expect(Buffer.byteLength(c)).toBeLessThanOrEqual(123);
    expect(c).toBe('é'.repeat(61));
  });
});
