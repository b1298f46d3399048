// The bucket's history when its deliveries never arrive: nats.js ends its history iterator only once
// every value the consumer announced has been delivered, so deliveries lost on the way (a stream
// leader cut off mid-read; here a relay that drops every JetStream delivery) kept the CLI waiting
// forever, printing nothing; a member's store then ended with TIMEOUT naming the history. Both now
// read from the stream leader by request (no consumer) and work through such a bus.
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { connect } from 'nats';
import { PolicyStore, policyBucket } from '../../../cluster/policy/index.js';
import { runCli, writeConfig } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { ENV, localConfig, openPolicyDoc, pushPolicies, writePolicy } from './policy-fixtures.js';

/** Relays NATS to `port`, dropping every message the server delivers for a JetStream consumer (reply `$JS.ACK.…`). */
async function starvingRelay(port: number): Promise<{ url: string; dropped: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let dropped = 0;
  const server: Server = createServer((client) => {
    const up = tcpConnect(port, '127.0.0.1');
    for (const s of [client, up]) { sockets.add(s); s.on('error', () => { client.destroy(); up.destroy(); }); s.on('close', () => { client.destroy(); up.destroy(); }); }
    client.pipe(up);
    let buf = Buffer.alloc(0);
    up.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const out: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) break;
        const line = buf.subarray(0, eol).toString('latin1');
        const words = line.split(' ');
        const op = words[0]!.toUpperCase();
        let frameEnd = eol + 2;
        if (op === 'MSG' || op === 'HMSG') {
          const total = Number(words[words.length - 1]);
          if (buf.length < eol + 2 + total + 2) break; // the payload has not all arrived
          frameEnd = eol + 2 + total + 2;
          const reply = words.length === (op === 'MSG' ? 5 : 6) ? words[3]! : '';
          if (reply.startsWith('$JS.ACK.')) { dropped++; buf = buf.subarray(frameEnd); continue; }
        }
        out.push(buf.subarray(0, frameEnd));
        buf = buf.subarray(frameEnd);
      }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return {
    url: `nats://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`,
    dropped: () => dropped,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

let nats: NatsServer & { stop(): Promise<void> };
let relay: Awaited<ReturnType<typeof starvingRelay>>;
let direct: string;
let starved: string;
let prefix = '';

beforeAll(async () => {
  nats = await startNatsServer();
  relay = await starvingRelay(Number(new URL(nats.url).port));
  prefix = `pth${Math.random().toString(36).slice(2, 8)}`;
  direct = writeConfig(localConfig([nats.url], prefix));
  starved = writeConfig(localConfig([relay.url], prefix));
  await pushPolicies(direct, [openPolicyDoc('http://127.0.0.1:1', 'http://127.0.0.1:1'), openPolicyDoc('http://127.0.0.1:2', 'http://127.0.0.1:1')]);
}, 60_000);
afterAll(async () => { await relay?.close(); await nats?.stop(); });

describe('policy bucket history when its deliveries never arrive', () => {
  it("a member's store and the CLI, asking the leader, read, push and list through that bus", async () => {
    const nc = await connect({ servers: [relay.url], timeout: 5_000, maxReconnectAttempts: 0 });
    try {
      const store = await PolicyStore.open(nc, { bucket: policyBucket(prefix), timeoutMs: 1_000 });
      expect((await store.history()).map((h) => h.revision)).toEqual([1, 2]);
      expect((await store.latest())?.revision).toBe(2);
      // a live watch is a consumer: the relay starves it, so the bus does starve deliveries
      const seen: number[] = [];
      const stop = await store.watch((v) => seen.push(v.revision));
      await waitFor('the relay to drop a delivery', () => relay.dropped() > 0, 5_000);
      stop();
      expect(seen).toEqual([]);
    } finally { await nc.close(); }
    const policy = writePolicy(openPolicyDoc('http://127.0.0.1:3', 'http://127.0.0.1:1'));
    const push = await runCli(['policy', 'push', '--config', starved, '--policy', policy], ENV, 40_000);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).toMatch(/pushed version 3/);
    const history = await runCli(['policy', 'history', '--config', starved], ENV, 30_000);
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout.trim().split('\n')).toHaveLength(3);
  }, 90_000);
});
