// NatsTransport reports 'connected' only once the server has its subscriptions: a message another
// client publishes the moment the transport says connected reaches the subscriber (a receiver thread
// that reports connected before its SUB is live loses the revocation published right then).
import { describe, expect, it } from 'vitest';
import { NatsTransport } from '../../../cluster/transport/index.js';
import { natsWithClient } from '../../helpers/nats-client.js';

const ROUNDS = 30;

describe('NatsTransport connected status', () => {
  const stand = natsWithClient();

  it(`delivers a message published at the instant 'connected' is reported (${ROUNDS} fresh transports)`, async () => {
    let missed = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const subject = `ptcs.${i}.${Math.random().toString(36).slice(2, 8)}`;
      const t = new NatsTransport({ connection: { servers: [stand.nats.url] } });
      let got = false;
      t.subscribe(subject, () => { got = true; });
      const published = new Promise<void>((resolve) => {
        const off = t.onStatus((s) => {
          if (s !== 'connected') return;
          off();
          stand.nc.publish(subject, new Uint8Array([1]));
          resolve();
        });
      });
      t.start();
      await published;
      await stand.nc.flush();
      // the subscriber's own round trip: anything the server routed to it has arrived after this
      await t.connection()!.flush();
      if (!got) missed++;
      await t.close();
    }
    expect(missed, `${missed} of ${ROUNDS} messages published when the transport said 'connected' never arrived`).toBe(0);
  }, 60_000);
});
