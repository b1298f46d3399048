// The live-connection registry against a fake TokenState: a revocation ends exactly the
// connections it revokes (by every key kind, issuer-scoped ones included), expiry ends them
// on the tick that reaches their exp, scanned streams get the same verdicts, and losing the
// revocation bus (fail_closed_after) ends everything.
import { describe, expect, it } from 'vitest';
import type { RevokedEntry, TokenFacts, TokenState } from '../../../node/contracts/index.js';
import { LiveRegistry, type EndReason, type LiveConnection } from '../../../node/ws/live-registry.js';

/** A TokenState whose revoked set is a predicate list the test controls. */
function fakeState(): TokenState & { revoke(r: RevokedEntry, matches: (f: TokenFacts) => boolean): void; busLost: boolean } {
  const rules: Array<(f: TokenFacts) => boolean> = [];
  const listeners = new Set<(r: RevokedEntry) => void>();
  const s = {
    busLost: false,
    gate: () => (s.busLost ? { ok: false as const, reason: 'bus_lost' } : { ok: true as const }),
    isRevoked: (f: TokenFacts) => rules.some((m) => m(f)),
    onRevoked: (l: (r: RevokedEntry) => void) => { listeners.add(l); return () => { listeners.delete(l); }; },
    revoke(r: RevokedEntry, matches: (f: TokenFacts) => boolean) {
      rules.push(matches);
      for (const l of listeners) l(r);
    },
  };
  return s;
}

class Conn implements LiveConnection {
  ended: EndReason | null = null;
  constructor(readonly facts: TokenFacts, readonly exp: number) {}
  end(r: EndReason): void { this.ended = r; }
}

const NOW_MS = 1_800_000_000_000;
const NOW_S = NOW_MS / 1000;

function setup(): { state: ReturnType<typeof fakeState>; reg: LiveRegistry; clock: { ms: number } } {
  const clock = { ms: NOW_MS };
  const state = fakeState();
  const reg = new LiveRegistry(state, { now: () => clock.ms });
  reg.start();
  return { state, reg, clock };
}

describe('LiveRegistry', () => {
  it('a kid revocation ends a connection whose token names no key (keyUnknown: a JWT judged by introspection)', () => {
    const { state, reg } = setup();
    const unknown = new Conn({ tokenHash: 'h1', sub: 'alice', keyUnknown: true }, NOW_S + 3600);
    const opaque = new Conn({ tokenHash: 'h2', sub: 'bob' }, NOW_S + 3600);
    for (const c of [unknown, opaque]) expect(reg.add(c)).toBeNull();
    state.revoke({ kind: 'kid', value: 'k1' }, (f) => f.kid === 'k1' || f.keyUnknown === true);
    expect([unknown.ended, opaque.ended]).toEqual(['revoked', null]);
  });

  it('a jti revocation ends the connections of that token only', () => {
    const { state, reg } = setup();
    const a1 = new Conn({ tokenHash: 'h1', jti: 'j1', sub: 'alice' }, NOW_S + 3600);
    const a2 = new Conn({ tokenHash: 'h1', jti: 'j1', sub: 'alice' }, NOW_S + 3600);
    const b = new Conn({ tokenHash: 'h2', jti: 'j2', sub: 'alice' }, NOW_S + 3600);
    for (const c of [a1, a2, b]) expect(reg.add(c)).toBeNull();
    state.revoke({ kind: 'jti', value: 'j1' }, (f) => f.jti === 'j1');
    expect([a1.ended, a2.ended, b.ended]).toEqual(['revoked', 'revoked', null]);
    expect(reg.size).toBe(1);
    expect(reg.stats().ended_revoked).toBe(2);
  });

  it('a socket of a minted token (facts.parent) ends on a revocation of the inbound token it replaced, and is forgotten by every key', () => {
    const { state, reg } = setup();
    const minted = new Conn({ tokenHash: 'm1', jti: 'mj', sub: 'alice', parent: { tokenHash: 'in1', jti: 'inj', sid: 's1' } }, NOW_S + 3600);
    const other = new Conn({ tokenHash: 'm2', jti: 'mj2', sub: 'alice', parent: { tokenHash: 'in2', jti: 'inj2' } }, NOW_S + 3600);
    for (const c of [minted, other]) expect(reg.add(c)).toBeNull();
    const viaParent = (f: TokenFacts): boolean => f.parent?.jti === 'inj' || f.jti === 'inj';
    state.revoke({ kind: 'jti', value: 'inj' }, viaParent);
    expect([minted.ended, other.ended]).toEqual(['revoked', null]);
    reg.remove(other);
    expect(reg.size).toBe(0);
    // nothing left indexed: a later revocation by the inbound's sid finds no connection to end
    state.revoke({ kind: 'sid', value: 's1' }, (f) => f.parent?.sid === 's1');
    expect(reg.stats().ended_revoked).toBe(1);
  });

  it.each([
    ['token', 'h9', (f: TokenFacts) => f.tokenHash === 'h9'],
    ['sub', 'bob', (f: TokenFacts) => f.sub === 'bob'],
    ['client_id', 'app', (f: TokenFacts) => f.clientId === 'app'],
    ['kid', 'k1', (f: TokenFacts) => f.kid === 'k1'],
  ] as const)('finds connections by %s', (kind, value, m) => {
    const { state, reg } = setup();
    const c = new Conn({ tokenHash: 'h9', jti: 'j9', sub: 'bob', clientId: 'app', kid: 'k1' }, NOW_S + 60);
    const other = new Conn({ tokenHash: 'h8', jti: 'j8', sub: 'carol', clientId: 'web', kid: 'k2' }, NOW_S + 60);
    reg.add(c);
    reg.add(other);
    state.revoke({ kind, value }, m);
    expect(c.ended).toBe('revoked');
    expect(other.ended).toBeNull();
  });

  it('a token revocation ends a connection opened with the ECDSA twin spelling (indexed by its twinHash too)', () => {
    const { state, reg } = setup();
    const twin = new Conn({ tokenHash: 'h-twin', twinHash: 'h-orig', jti: 'j1' }, NOW_S + 3600);
    const other = new Conn({ tokenHash: 'h-other', twinHash: 'h-other-twin' }, NOW_S + 3600);
    for (const c of [twin, other]) expect(reg.add(c)).toBeNull();
    state.revoke({ kind: 'token', value: 'h-orig' }, (f) => f.tokenHash === 'h-orig' || f.twinHash === 'h-orig');
    expect([twin.ended, other.ended]).toEqual(['revoked', null]);
    reg.remove(twin);
    reg.remove(other);
    expect(reg.size).toBe(0);
  });

  it('a key match that isRevoked rejects (issuer-scoped, or a sub cut before iat) leaves the connection open', () => {
    const { state, reg } = setup();
    const c = new Conn({ tokenHash: 'h', sub: 'alice', iat: NOW_S, iss: 'https://a' }, NOW_S + 60);
    reg.add(c);
    state.revoke({ kind: 'sub', value: 'alice' }, () => false);
    expect(c.ended).toBeNull();
    expect(reg.size).toBe(1);
  });

  it('an unknown revocation kind checks every connection', () => {
    const { state, reg } = setup();
    const c = new Conn({ tokenHash: 'h', sub: 'alice' }, NOW_S + 60);
    reg.add(c);
    state.revoke({ kind: 'session', value: 's1' }, (f) => f.sub === 'alice');
    expect(c.ended).toBe('revoked');
  });

  it('refuses to track a token already revoked or expired', () => {
    const { state, reg } = setup();
    state.revoke({ kind: 'jti', value: 'j' }, (f) => f.jti === 'j');
    expect(reg.add(new Conn({ tokenHash: 'h', jti: 'j' }, NOW_S + 60))).toBe('revoked');
    expect(reg.add(new Conn({ tokenHash: 'h2' }, NOW_S))).toBe('expired');
    expect(reg.size).toBe(0);
  });

  it('ends connections on the tick that reaches their exp, not before', () => {
    const { reg, clock } = setup();
    const soon = new Conn({ tokenHash: 'a' }, NOW_S + 2);
    const frac = new Conn({ tokenHash: 'b' }, NOW_S + 2.5);
    const later = new Conn({ tokenHash: 'c' }, NOW_S + 10);
    for (const c of [soon, frac, later]) reg.add(c);
    clock.ms = NOW_MS + 1999;
    reg.tick();
    expect([soon.ended, frac.ended, later.ended]).toEqual([null, null, null]);
    clock.ms = NOW_MS + 2000;
    reg.tick();
    expect([soon.ended, frac.ended, later.ended]).toEqual(['expired', null, null]);
    // a fractional exp (a JWT's NumericDate may have one) is due at its instant, on the first tick
    // at or after it, not at the next whole second (up to a second after HTTP started refusing it)
    clock.ms = NOW_MS + 2499;
    reg.tick();
    expect(frac.ended).toBeNull();
    clock.ms = NOW_MS + 2500;
    reg.tick();
    expect(frac.ended).toBe('expired');
    // a clock jump far ahead still finds everything due
    clock.ms = NOW_MS + 10_000_000;
    reg.tick();
    expect(later.ended).toBe('expired');
    expect(reg.size).toBe(0);
  });

  it('a removed connection is never ended', () => {
    const { state, reg, clock } = setup();
    const c = new Conn({ tokenHash: 'h', jti: 'j' }, NOW_S + 1);
    reg.add(c);
    reg.remove(c);
    reg.remove(c);
    state.revoke({ kind: 'jti', value: 'j' }, (f) => f.jti === 'j');
    clock.ms += 5000;
    reg.tick();
    expect(c.ended).toBeNull();
  });

  it('scanners get a revocation judge on each revocation and an expiry judge on each tick', () => {
    const { state, reg, clock } = setup();
    const streams = [
      { facts: { tokenHash: 'x', jti: 'jx' } as TokenFacts, exp: NOW_S + 100, ended: null as string | null },
      { facts: { tokenHash: 'y', jti: 'jy' } as TokenFacts, exp: NOW_S + 1, ended: null as string | null },
    ];
    reg.addScanner((judge) => { for (const s of streams) if (s.ended === null) s.ended = judge(s.facts, s.exp); });
    state.revoke({ kind: 'jti', value: 'jx' }, (f) => f.jti === 'jx');
    expect(streams.map((s) => s.ended)).toEqual(['revoked', null]);
    clock.ms = NOW_MS + 1000;
    reg.tick();
    expect(streams.map((s) => s.ended)).toEqual(['revoked', 'expired']);
  });

  it('losing the revocation bus (fail_closed_after) ends every connection as unverifiable', () => {
    const { state, reg } = setup();
    const c = new Conn({ tokenHash: 'h' }, NOW_S + 60);
    reg.add(c);
    reg.tick();
    expect(c.ended).toBeNull();
    state.busLost = true;
    expect(reg.judge({ tokenHash: 'z' }, NOW_S + 60)).toBe('unverifiable');
    reg.tick();
    expect(c.ended).toBe('unverifiable');
  });

  it('without a TokenState only expiry applies', () => {
    const clock = { ms: NOW_MS };
    const reg = new LiveRegistry(null, { now: () => clock.ms });
    const c = new Conn({ tokenHash: 'h' }, NOW_S + 1);
    expect(reg.add(c)).toBeNull();
    reg.revoked({ kind: 'token', value: 'h' });
    expect(c.ended).toBeNull();
    clock.ms += 1000;
    reg.tick();
    expect(c.ended).toBe('expired');
  });

  it('one connection throwing in end() does not keep the others open', () => {
    const { state, reg } = setup();
    const bad: LiveConnection = { facts: { tokenHash: 'h', sub: 's' }, exp: NOW_S + 60, end: () => { throw new Error('boom'); } };
    const good = new Conn({ tokenHash: 'h2', sub: 's' }, NOW_S + 60);
    reg.add(bad);
    reg.add(good);
    state.revoke({ kind: 'sub', value: 's' }, (f) => f.sub === 's');
    expect(good.ended).toBe('revoked');
  });
});
