// The bus envelope (HMAC-SHA256 over subject, context, signing time and payload, key id for
// rotation), the key material from cluster.auth, and the MessageBus that seals everything it
// sends and delivers only authentic, fresh messages — replies bound to their request.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusAuth, busAuthFrom, busKeyId, Codec, ENVELOPE_OVERHEAD, MessageBus, subjects, type BusMessage } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';
import { validateConfig } from '../../../../node/config/index.js';

const KEY = Buffer.alloc(32, 7);
const OTHER = Buffer.alloc(32, 9);
const payload = new Uint8Array([0x44, 1, 2, 3]);

describe('BusAuth', () => {
  const clock = { now: 1_700_000_000_000 };
  const auth = (o: { key?: Buffer; previousKey?: Buffer } = {}): BusAuth => new BusAuth({ key: o.key ?? KEY, previousKey: o.previousKey ?? null, maxAgeMs: 30_000, now: () => clock.now });

  it('opens what it sealed, with the signing time; the envelope adds a fixed overhead', () => {
    const a = auth();
    const sealed = a.seal('p.cache.introspection', payload);
    expect(sealed.byteLength).toBe(payload.byteLength + ENVELOPE_OVERHEAD);
    const o = a.open('p.cache.introspection', sealed, true);
    expect(o).toMatchObject({ ok: true, signedAt: clock.now });
    expect(o.ok && [...o.payload]).toEqual([...payload]);
    expect(a.stats()).toMatchObject({ signed: 1, verified: 1 });
  });

  it('refuses and counts: bare codec bytes (unsigned), another key (unknown_key), a changed byte or another subject (bad_mac)', () => {
    const a = auth();
    expect(a.open('s', payload, true)).toEqual({ ok: false, reason: 'unsigned' });
    expect(a.open('s', auth({ key: OTHER }).seal('s', payload), true)).toEqual({ ok: false, reason: 'unknown_key' });
    const sealed = a.seal('s', payload);
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(a.open('s', tampered, true)).toEqual({ ok: false, reason: 'bad_mac' });
    const later = Uint8Array.from(sealed);
    later[7]! ^= 1; // the signing time is covered too
    expect(a.open('s', later, true)).toEqual({ ok: false, reason: 'bad_mac' });
    expect(a.open('t', sealed, true)).toEqual({ ok: false, reason: 'bad_mac' });
    expect(a.stats()).toMatchObject({ rejected_unsigned: 1, rejected_unknown_key: 1, rejected_bad_mac: 3 });
  });

  it('live messages outside the window are stale; stored ones open with their signing time', () => {
    const a = auth();
    const sealed = a.seal('s', payload);
    clock.now += 31_000;
    expect(a.open('s', sealed, true)).toEqual({ ok: false, reason: 'stale' });
    expect(a.open('s', sealed, false)).toMatchObject({ ok: true, signedAt: clock.now - 31_000 });
    clock.now -= 62_000; // signed "in the future" of this clock
    expect(a.open('s', sealed, true)).toEqual({ ok: false, reason: 'stale' });
    clock.now += 31_000;
  });

  it('rotation: the previous key is still accepted, never used to sign', () => {
    const old = auth({ key: OTHER });
    const rotating = auth({ key: KEY, previousKey: OTHER });
    expect(rotating.open('s', old.seal('s', payload), true).ok).toBe(true);
    expect(old.open('s', rotating.seal('s', payload), true)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(rotating.keyIds()).toEqual({ current: busKeyId(KEY), previous: busKeyId(OTHER) });
  });

  it('a reply is bound to its request: another request\'s context does not open it', () => {
    const a = auth();
    const req1 = a.seal('s', payload);
    const req2 = a.seal('s', new Uint8Array([0x44, 9]));
    const reply = a.seal('<reply>s', payload, req1.subarray(13, 45));
    expect(a.open('<reply>s', reply, true, req1.subarray(13, 45)).ok).toBe(true);
    expect(a.open('<reply>s', reply, true, req2.subarray(13, 45))).toEqual({ ok: false, reason: 'bad_mac' });
  });

  it('tells refusals apart whatever the bytes: long bare bytes are unsigned, a third key is unknown during a rotation', () => {
    const rotating = auth({ key: KEY, previousKey: OTHER });
    expect(rotating.open('s', new Uint8Array(ENVELOPE_OVERHEAD + 20).fill(0x44), true)).toEqual({ ok: false, reason: 'unsigned' });
    expect(rotating.open('s', auth({ key: Buffer.alloc(32, 3) }).seal('s', payload), true)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('a signing time that is no time (NaN, negative) never opens, live or stored: it would slip past the freshness window', () => {
    const a = auth();
    expect(a.open('s', a.seal('s', payload, null, Number.NaN), true).ok).toBe(false);
    expect(a.open('s', a.seal('s', payload, null, -5_000), false).ok).toBe(false);
  });

  it('refuses keys shorter than 32 bytes', () => {
    expect(() => new BusAuth({ key: Buffer.alloc(31) })).toThrow(/at least 32/);
  });
});

describe('busAuthFrom (cluster.auth)', () => {
  const src = { mode: 'hmac' as const, keyEnv: null, keyFile: null, previousKeyEnv: null, previousKeyFile: null, maxAgeMs: 30_000 };

  it('none: no authenticator; hmac without a key: refused naming the settings', () => {
    expect(busAuthFrom({ ...src, mode: 'none' })).toBeNull();
    expect(() => busAuthFrom(src)).toThrow(/cluster\.auth.*key_env or cluster\.auth\.key_file/);
  });

  it('reads the variable or the file (trailing newline dropped); unset, unreadable or short keys are named by path', () => {
    const k = 'k'.repeat(40);
    expect(busAuthFrom({ ...src, keyEnv: 'PT_K' }, { PT_K: k })?.keyIds().current).toBe(busKeyId(Buffer.from(k)));
    expect(() => busAuthFrom({ ...src, keyEnv: 'PT_K' }, {})).toThrow('cluster.auth.key_env: environment variable PT_K is not set');
    expect(() => busAuthFrom({ ...src, keyEnv: 'PT_K' }, { PT_K: 'short' })).toThrow(/cluster\.auth\.key_env \(PT_K\): the key has 5 bytes, at least 32/);
    const file = join(mkdtempSync(join(tmpdir(), 'pt-key-')), 'bus.key');
    writeFileSync(file, `${k}\n`);
    expect(busAuthFrom({ ...src, keyFile: file }, {})?.keyIds().current).toBe(busKeyId(Buffer.from(k)));
    expect(() => busAuthFrom({ ...src, keyFile: `${file}.missing` }, {})).toThrow(/cluster\.auth\.key_file: cannot read .*ENOENT/);
    const both = busAuthFrom({ ...src, keyEnv: 'PT_K', previousKeyEnv: 'PT_OLD' }, { PT_K: k, PT_OLD: 'o'.repeat(32) });
    expect(both?.keyIds().previous).toBe(busKeyId(Buffer.from('o'.repeat(32))));
  });
});

describe('cluster.auth in the config schema', () => {
  const base = { upstreams: { u: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'r', match: { path: '/' }, upstream: 'u', auth: 'none' }] };
  const check = (cluster: unknown): string[] => {
    const r = validateConfig({ ...base, cluster });
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };

  it('cluster.nats without a key is refused (closed default); mode: none opts out; IPC needs none', () => {
    expect(check({ nats: { servers: ['nats://x:4222'] } })).toEqual([expect.stringMatching(/^cluster\.auth\.key_env: required with cluster\.nats/)]);
    expect(check({ nats: { servers: ['nats://x:4222'] }, auth: { key_env: 'K' } })).toEqual([]);
    expect(check({ nats: { servers: ['nats://x:4222'] }, auth: { mode: 'none' } })).toEqual([]);
    expect(check({})).toEqual([]);
  });

  it('names contradictions by path', () => {
    expect(check({ nats: { servers: ['n'] }, auth: { key_env: 'K', key_file: '/k' } })).toEqual(['cluster.auth.key_file: give key_env or key_file, not both']);
    expect(check({ nats: { servers: ['n'] }, auth: { mode: 'none', key_env: 'K' } })).toEqual([expect.stringMatching(/^cluster\.auth\.mode: mode none uses no key/)]);
    expect(check({ auth: { key_env: 'bad name' } })).toEqual([expect.stringMatching(/^cluster\.auth\.key_env:/)]);
  });
});

describe('MessageBus with authentication', () => {
  const codec = new Codec();
  const left = (id: string): BusMessage => ({ type: 'member.left', v: 1, id });
  const busOn = (t: LocalTransport, key = KEY): MessageBus => new MessageBus(t, codec, subjects('p'), new BusAuth({ key }));

  it('delivers what a keyed member sends, with its signing time; bare or foreign-keyed bytes are refused and counted', async () => {
    const t = new LocalTransport();
    const bus = busOn(t);
    const got: Array<{ msg: BusMessage; signedAt: number | null }> = [];
    bus.subscribe('p.members', (msg, inc) => got.push({ msg, signedAt: inc.signedAt }));
    bus.publish('p.members', left('a'));
    t.publish('p.members', codec.encode(left('forged')));
    busOn(t, OTHER).publish('p.members', left('foreign'));
    await new Promise((r) => setTimeout(r, 10));
    expect(got.map((g) => g.msg)).toEqual([left('a')]);
    expect(got[0]!.signedAt).toBeGreaterThan(0);
    expect(bus.rejections()).toMatchObject({ unsigned: 1, unknown_key: 1 });
    await t.close();
  });

  it('request/reply: the answer is sealed for that request; a forged answer is refused', async () => {
    const t = new LocalTransport();
    const bus = busOn(t);
    bus.subscribe('p.rpc.x', (msg, inc) => bus.respond(inc, left(`re-${(msg as { id: string }).id}`)));
    expect(await bus.request('p.rpc.x', left('q'), 500)).toEqual(left('re-q'));
    const t2 = new LocalTransport();
    const asker = busOn(t2);
    t2.subscribe('p.rpc.y', (inc) => inc.respond(codec.encode(left('forged'))));
    await expect(asker.request('p.rpc.y', left('q'), 500)).rejects.toMatchObject({ code: 'BUS_TIMEOUT' });
    expect(asker.rejections().unsigned).toBe(1);
    await Promise.all([t.close(), t2.close()]);
  });
});
