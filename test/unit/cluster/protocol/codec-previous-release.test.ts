// Rolling upgrade at the codec: bytes the previous release (fc963800) wrote, kept in
// test/fixtures/bus-messages-fc963800.json, decode with this build's codec — in the order written,
// reversed, and each by a fresh codec (a member that joined later) — and this build writes the same
// bytes for the same messages, or (a nested object, whose inline record id follows the shared list, which
// grew) bytes the previous release's shared records read as the same message.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { Codec, MESSAGE_SPECS, type BusMessage } from '../../../../cluster/protocol/index.js';
import { ROOT } from '../../../helpers/proxy-process.js';

const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'bus-messages-fc963800.json'), 'utf8')) as {
  made_by: string; messages: Array<{ message: BusMessage; hex: string }>;
};
const written = fixture.messages.map((m) => ({ message: m.message, bytes: Uint8Array.from(Buffer.from(m.hex, 'hex')) }));
/** Specs that travel between instances on NATS (not the primary–worker channel's `revocation.*` control messages, not retired ones). */
const onNats = MESSAGE_SPECS.filter((s) => !s.type.startsWith('retired.') && !['revocation.handed', 'revocation.tick', 'revocation.overflowed', 'revocation.ask'].includes(s.type));
/** Specs appended since fc963800: it never wrote them (it cannot read them: it fails closed on an unreadable revocation). */
const ADDED_SINCE = ['revocation.added v3'];
/** The previous release's shared records: this build's list without the specs appended since. */
const previousRecords = MESSAGE_SPECS.slice(0, MESSAGE_SPECS.length - ADDED_SINCE.length).map((s) => [...s.fields]);
/** A decoder as the previous release builds it (a fresh one per message: its table is put back after each). */
const previousReads = (bytes: Uint8Array): unknown =>
  new Packr({ structures: previousRecords.map((r) => [...r]), maxSharedStructures: previousRecords.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true }).unpack(bytes);

describe('bus codec against the previous release (fc963800)', () => {
  it('the fixture holds every message kind that crosses instances on the bus, nested objects included', () => {
    const have = new Set(written.map((w) => `${w.message.type} v${w.message.v}`));
    expect(onNats.map((s) => `${s.type} v${s.v}`).filter((k) => !have.has(k))).toEqual(ADDED_SINCE);
    expect(MESSAGE_SPECS.slice(-ADDED_SINCE.length).map((s) => `${s.type} v${s.v}`)).toEqual(ADDED_SINCE);
    expect(fixture.made_by).toMatch(/fc963800/);
  });

  it('what it wrote decodes here: one codec in the order written, one in reverse, a fresh one for each; nothing dropped', () => {
    for (const order of [written, [...written].reverse()]) {
      const codec = new Codec();
      expect(order.map((w) => codec.decode(w.bytes))).toEqual(order.map((w) => w.message));
      expect(codec.stats()).toMatchObject({ dropped_malformed: 0, dropped_unknown_type: 0, dropped_unknown_version: 0 });
    }
    for (const w of written) expect(new Codec().decode(w.bytes)).toEqual(w.message);
  });

  it('this build writes the bytes it wrote for the same messages, also while decoding between them (as a member does)', () => {
    const codec = new Codec();
    const hex = written.map((w, i) => {
      codec.decode(written[(i * 7) % written.length]!.bytes); // a peer's message in between
      return Buffer.from(codec.encode(w.message)).toString('hex');
    });
    // the same bytes, but for the id a nested object's inline record gets (one past the shared list): the
    // previous release reads those as it reads its own bytes (a record id past its list lives for one message)
    hex.forEach((h, i) => {
      if (h === fixture.messages[i]!.hex) return;
      expect(written[i]!.message, 'only a message with a nested object may differ').toSatisfy((m: BusMessage) => ['cache.filled', 'introspection.leased', 'member.heartbeat'].includes(m.type));
      expect(previousReads(Buffer.from(h, 'hex'))).toEqual(previousReads(written[i]!.bytes));
    });
    // every revocation exactly as before (the previous release knows their records)
    written.forEach((w, i) => { if (w.message.type === 'revocation.added') expect(hex[i]).toBe(fixture.messages[i]!.hex); });
  });
});
