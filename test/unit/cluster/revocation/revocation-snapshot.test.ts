// The revocation snapshot on disk: written 0600 by rename (whole files only), read back with
// the moment its holder was last caught up; a broken, foreign or future-dated file is not used.
// With a bus key the file is sealed with it: another cluster's file, or an altered one, is refused whole.
// A closed gate is kept in it.
import { describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusAuth, type RevocationRecord } from '../../../../cluster/protocol/index.js';
import { readSnapshot, SnapshotWriter } from '../../../../cluster/revocation/index.js';
import { waitFor } from '../../../helpers/wait.js';

const rec = (value: string): RevocationRecord => ({ id: `id-${value}`, kind: 'jti', value, issuer: null, before: null, expiresAt: 2_000_000_000, reason: null, createdAt: 1_700_000_000_000, origin: 'm' });
const dir = (): string => mkdtempSync(join(tmpdir(), 'pt-snap-'));

describe('revocation snapshot', () => {
  it('round trip: mode 0600, no temp file left, entries and asOf back', async () => {
    const d = dir();
    const file = join(d, 'r.json');
    let entries = [rec('a')];
    const errors: Error[] = [];
    const w = new SnapshotWriter(file, () => ({ asOf: 1_700_000_001_000, entries }), 0, (e) => errors.push(e));
    await w.flush();
    entries = [rec('a'), rec('b')];
    await w.flush();
    w.close();
    expect(errors).toEqual([]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(d)).toEqual(['r.json']);
    const r = readSnapshot(file, 1_700_000_002_000);
    expect(r).toEqual({ ok: true, snapshot: { asOf: 1_700_000_001_000, entries }, skipped: 0 });
    expect(w.writes).toBe(2);
  });

  it('missing, malformed, future-dated: not used, with the reason; malformed entries are skipped', () => {
    const d = dir();
    expect(readSnapshot(join(d, 'none.json'))).toMatchObject({ ok: false, reason: 'missing' });
    writeFileSync(join(d, 'bad.json'), '{"v":1,"asOf":');
    expect(readSnapshot(join(d, 'bad.json'))).toMatchObject({ ok: false, reason: 'malformed' });
    writeFileSync(join(d, 'other.json'), '{"v":2,"asOf":1,"entries":[]}');
    expect(readSnapshot(join(d, 'other.json'))).toMatchObject({ ok: false, reason: 'malformed' });
    writeFileSync(join(d, 'future.json'), JSON.stringify({ v: 1, asOf: 2_000_000_000_000, entries: [] }));
    expect(readSnapshot(join(d, 'future.json'), 1_700_000_000_000)).toMatchObject({ ok: false, reason: 'future' });
    // a clock a minute and more ahead already makes its age untrustworthy (it would look young for longer)
    writeFileSync(join(d, 'ahead.json'), JSON.stringify({ v: 1, asOf: 1_700_000_061_000, entries: [] }));
    expect(readSnapshot(join(d, 'ahead.json'), 1_700_000_000_000)).toMatchObject({ ok: false, reason: 'future' });
    expect(readSnapshot(join(d, 'ahead.json'), 1_700_000_001_000)).toMatchObject({ ok: true });
    writeFileSync(join(d, 'mixed.json'), JSON.stringify({ v: 1, asOf: 1, entries: [rec('ok'), { kind: 'jti' }, 7] }));
    expect(readSnapshot(join(d, 'mixed.json'))).toMatchObject({ ok: true, skipped: 2, snapshot: { entries: [rec('ok')] } });
  });

  it('sealed with the bus key: read back with it (or as the previous key); refused with another key, unsealed, or altered', async () => {
    const d = dir();
    const file = join(d, 'r.json');
    const key = randomBytes(32);
    const auth = new BusAuth({ key });
    const entries = [rec('a'), rec('b')];
    const w = new SnapshotWriter(file, () => ({ asOf: 1_700_000_001_000, entries }), 0, () => {}, auth);
    await w.flush();
    w.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('id-a'); // sealed: not readable as a v1 file
    expect(readSnapshot(file, 1_700_000_002_000, auth)).toEqual({ ok: true, snapshot: { asOf: 1_700_000_001_000, entries }, skipped: 0 });
    expect(readSnapshot(file, 1_700_000_002_000, new BusAuth({ key: randomBytes(32), previousKey: key }))).toMatchObject({ ok: true });
    expect(readSnapshot(file, 1_700_000_002_000, new BusAuth({ key: randomBytes(32) }))).toMatchObject({ ok: false, reason: 'unauthenticated' });
    const o = JSON.parse(text) as { v: number; sealed: string };
    const bytes = Buffer.from(o.sealed, 'base64');
    bytes[bytes.length - 3] ^= 1;
    writeFileSync(join(d, 'altered.json'), JSON.stringify({ v: o.v, sealed: bytes.toString('base64') }));
    expect(readSnapshot(join(d, 'altered.json'), 1_700_000_002_000, auth)).toMatchObject({ ok: false, reason: 'unauthenticated' });
    writeFileSync(join(d, 'plain.json'), JSON.stringify({ v: 1, asOf: 1_700_000_001_000, entries: [] }));
    expect(readSnapshot(join(d, 'plain.json'), 1_700_000_002_000, auth)).toMatchObject({ ok: false, reason: 'unauthenticated' });
    expect(readSnapshot(file, 1_700_000_002_000)).toMatchObject({ ok: false, reason: 'malformed' }); // no key: a sealed file is not v1
  });

  it('keeps the ids the stream has not acknowledged (the outbox), sealed or not', async () => {
    const d = dir();
    const auth = new BusAuth({ key: randomBytes(32) });
    for (const [name, a] of [['plain.json', null], ['sealed.json', auth]] as const) {
      const file = join(d, name);
      const w = new SnapshotWriter(file, () => ({ asOf: 1_700_000_001_000, entries: [rec('a'), rec('b')], pending: ['id-b'] }), 0, () => {}, a);
      await w.flush();
      w.close();
      expect(readSnapshot(file, 1_700_000_002_000, a)).toMatchObject({ ok: true, snapshot: { pending: ['id-b'] } });
    }
  });

  it('keeps the gate while closed (an unreadable or refused revocation still live), not once open; a bad gate refuses the file', async () => {
    const d = dir();
    const file = join(d, 'g.json');
    const later = Date.now() + 600_000;
    let gates = { unreadableUntil: later, overflowUntil: 0 };
    const w = new SnapshotWriter(file, () => ({ asOf: Date.now(), entries: [], gates }), 0, () => {});
    await w.flush();
    expect(readSnapshot(file)).toMatchObject({ ok: true, snapshot: { gates: { unreadableUntil: later, overflowUntil: 0 } } });
    gates = { unreadableUntil: Date.now() - 1, overflowUntil: 0 }; // open again: nothing to keep
    await w.flush();
    w.close();
    const r = readSnapshot(file);
    expect(r.ok && r.snapshot.gates).toBe(undefined);
    writeFileSync(file, JSON.stringify({ v: 1, asOf: Date.now(), entries: [], gates: { unreadableUntil: 'soon' } }));
    expect(readSnapshot(file)).toMatchObject({ ok: false, reason: 'malformed' });
    writeFileSync(file, JSON.stringify({ v: 1, asOf: Date.now(), entries: [], gates: { unreadableUntil: later, overflowUntil: 'soon' } }));
    expect(readSnapshot(file)).toMatchObject({ ok: false, reason: 'malformed' }); // one good time does not vouch for the other
  });

  it('a failed write is reported, not thrown', async () => {
    const errors: Error[] = [];
    const w = new SnapshotWriter(join(dir(), 'no-such-dir', 'r.json'), () => ({ asOf: 1, entries: [] }), 0, (e) => errors.push(e));
    await w.flush();
    expect(errors.length).toBe(1);
    expect(w.failures).toBe(1);
  });

  it('a wall clock stepped back an hour does not hold the next write for the hour (regression)', async () => {
    const w = new SnapshotWriter(join(dir(), 'r.json'), () => ({ asOf: 1_700_000_001_000, entries: [] }), 100, () => {});
    await w.flush();
    try {
      // before: the pace was lastWrittenAt + interval on Date.now(), so after the step no snapshot was written for the
      // hour — revocations made meanwhile were missing from the file a restart without the bus serves from
      vi.setSystemTime(Date.now() - 3_600_000); // Date only: timers and performance.now run on
      w.touch();
      await waitFor('the next snapshot write', () => w.writes === 2);
    } finally {
      vi.useRealTimers();
      w.close();
    }
  });
});
