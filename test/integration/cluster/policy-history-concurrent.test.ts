// Reading the policy bucket's history while values are being written: nats.js 2.29's kv.history()
// hands the iterator an `undefined` entry when a value written meanwhile arrives before the end of
// the history was noticed (its sentinel pushed a second time) — `policy push` racing another push
// failed with "Cannot read properties of undefined (reading 'operation')" (clean-clone CI). Every read
// must now return the history, values in revision order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { PolicyStore } from '../../../cluster/policy/policy-store.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';

let nats: NatsServer & { stop(): Promise<void> };
const conns: NatsConnection[] = [];

beforeAll(async () => { nats = await startNatsServer(); }, 60_000);
afterAll(async () => { await Promise.all(conns.map((c) => c.close())); await nats?.stop(); });

describe('policy history read during writes', () => {
  it('150 history reads while another connection writes without pause: none fails, each in revision order', async () => {
    const bucket = `PHC${Math.random().toString(36).slice(2, 8).toUpperCase()}_POLICY`;
    const [a, b] = [await connect({ servers: [nats.url] }), await connect({ servers: [nats.url] })];
    conns.push(a, b);
    const reader = await PolicyStore.open(a, { bucket, history: 16 });
    const writer = await PolicyStore.open(b, { bucket, history: 16 });
    let rev = await writer.write(new Uint8Array([0]), null);
    let writing = true;
    let writes = 0;
    const writes$ = (async () => { while (writing) { rev = await writer.write(new Uint8Array([++writes & 255]), rev); } })();
    const failures: string[] = [];
    for (let i = 0; i < 150; i++) {
      try {
        const h = await reader.history();
        expect(h.length).toBeGreaterThan(0);
        for (let j = 1; j < h.length; j++) expect(h[j]!.revision).toBeGreaterThan(h[j - 1]!.revision);
      } catch (err) { failures.push(String(err)); }
    }
    writing = false;
    await writes$;
    expect(writes).toBeGreaterThan(20); // the reads did race writes
    expect(failures).toEqual([]);
  }, 60_000);
});
