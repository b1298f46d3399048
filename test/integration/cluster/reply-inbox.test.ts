// The sealed request/reply of the bus over a real nats-server, at the MessageBus level: the first
// authentic answer bound to the request wins even behind forged ones; what a request ends with when
// no authentic answer comes (no responders, timeout, transport closed); late replies are counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from 'nats';
import { BusAuth, Codec, MessageBus, subjects, type BusMessage } from '../../../cluster/protocol/index.js';
import { NatsTransport } from '../../../cluster/transport/index.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';

const KEY = randomBytes(32);
const PROOF_KEY = 'a'.repeat(43); // a DPoP claim key: base64url SHA-256
const claim = (member: string): BusMessage => ({ type: 'dpop.claim', v: 1, key: PROOF_KEY, expiresAt: Math.floor(Date.now() / 1000) + 60, member });

describe('MessageBus.request over NATS with a bus key', () => {
  let nats: NatsServer & { stop(): Promise<void> };
  let raw: NatsConnection;
  const transports: NatsTransport[] = [];
  const prefix = `ptri${Math.random().toString(36).slice(2, 8)}`;

  async function member(): Promise<{ bus: MessageBus; t: NatsTransport }> {
    const t = new NatsTransport({ connection: { servers: [nats.url] } });
    transports.push(t);
    t.start();
    await t.whenConnected(10_000);
    return { t, bus: new MessageBus(t, new Codec(), subjects(prefix), new BusAuth({ key: KEY })) };
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    raw = await connect({ servers: [nats.url] });
  }, 30_000);

  afterAll(async () => {
    await raw?.close();
    await Promise.all(transports.map((t) => t.close()));
    await nats?.stop();
  });

  it('takes the owner\'s answer although junk, a forged 503 and an answer to another request came first', async () => {
    const owner = await member();
    const asker = await member();
    const subject = `${prefix}.rpc.dpop.owner`;
    let captured: Uint8Array | null = null;
    let n = 0;
    // the owner answers late; the racer answers at once with everything it has
    owner.bus.subscribe(subject, (m, incoming) => {
      if (m.type !== 'dpop.claim') return;
      const verdict = n++ === 0 ? 'fresh' : 'replayed';
      setTimeout(() => owner.bus.respond(incoming, { type: 'dpop.claimed', v: 1, key: m.key, verdict }), 50);
    });
    await owner.t.connection()!.flush();
    raw.subscribe('_INBOX.>', { callback: (_e, m) => { if (m.data[0] === 0xb1) captured = m.data; } });
    raw.subscribe(subject, {
      callback: (_e, m) => {
        raw.publish(m.reply!, new Uint8Array([0xb1, 0, 0, 0]));
        raw.publish(m.reply!, new Uint8Array(0), { headers: headers(503, 'No Responders') });
        if (captured !== null) raw.publish(m.reply!, captured);
      },
    });
    await raw.flush();
    expect(await asker.bus.request(subject, claim('asker'), 5_000)).toMatchObject({ type: 'dpop.claimed', verdict: 'fresh' });
    await raw.flush();
    // the second request gets the first one's authentic "fresh" replayed ahead of its own "replayed"
    expect(captured).not.toBeNull();
    expect(await asker.bus.request(subject, claim('asker'), 5_000)).toMatchObject({ type: 'dpop.claimed', verdict: 'replayed' });
    const s = asker.t.stats();
    expect(s.bus_replies_ignored_status).toBeGreaterThanOrEqual(2);
    expect(s.bus_replies_ignored_refused).toBeGreaterThanOrEqual(3);
    expect(asker.bus.rejections().bad_mac).toBeGreaterThanOrEqual(1); // the replayed answer
    expect(asker.bus.rejections().unsigned).toBeGreaterThanOrEqual(2); // the junk
  }, 30_000);

  it('nobody answers: BUS_NO_RESPONDERS; only forged answers: BUS_TIMEOUT', async () => {
    const asker = await member();
    await expect(asker.bus.request(`${prefix}.rpc.dpop.nobody`, claim('asker'), 300)).rejects.toMatchObject({ code: 'BUS_NO_RESPONDERS' });
    raw.subscribe(`${prefix}.rpc.dpop.junk`, { callback: (_e, m) => raw.publish(m.reply!, new Uint8Array([1, 2, 3])) });
    await raw.flush();
    await expect(asker.bus.request(`${prefix}.rpc.dpop.junk`, claim('asker'), 300)).rejects.toMatchObject({ code: 'BUS_TIMEOUT' });
  }, 30_000);

  it('a reply after the request settled is counted as late; closing fails a waiting request with BUS_CLOSED', async () => {
    const asker = await member();
    const subject = `${prefix}.rpc.dpop.slow`;
    const inboxes: string[] = [];
    raw.subscribe(subject, { callback: (_e, m) => { inboxes.push(m.reply!); } });
    await raw.flush();
    await expect(asker.bus.request(subject, claim('asker'), 200)).rejects.toMatchObject({ code: 'BUS_TIMEOUT' });
    // a loaded process can run the request's 200 ms timer before the silent responder's delivery
    await expect.poll(() => inboxes.length, { timeout: 5_000 }).toBe(1);
    raw.publish(inboxes[0]!, new Uint8Array([1]));
    await raw.flush();
    await expect.poll(() => asker.t.stats().bus_replies_ignored_late, { timeout: 5_000 }).toBe(1);
    const waiting = asker.bus.request(subject, claim('asker'), 10_000).then(() => null, (err: unknown) => err);
    await expect.poll(() => inboxes.length, { timeout: 5_000 }).toBe(2);
    await asker.t.close();
    expect(await waiting).toMatchObject({ code: 'BUS_CLOSED' });
  }, 30_000);
});
