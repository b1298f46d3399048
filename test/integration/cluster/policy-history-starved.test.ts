// `portcullis policy push` and `history` when the bucket's history never arrives: nats.js ends its
// history iterator only once every value the consumer announced has been delivered, so deliveries
// lost on the way (a stream leader cut off mid-read; here a relay that drops every JetStream
// delivery) kept the CLI waiting forever, printing nothing. Now: exit 1 naming the history.
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { runCli, writeConfig } from '../../helpers/proxy-process.js';
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

beforeAll(async () => {
  nats = await startNatsServer();
  relay = await starvingRelay(Number(new URL(nats.url).port));
  const prefix = `pth${Math.random().toString(36).slice(2, 8)}`;
  direct = writeConfig(localConfig([nats.url], prefix));
  starved = writeConfig(localConfig([relay.url], prefix));
  await pushPolicies(direct, [openPolicyDoc('http://127.0.0.1:1', 'http://127.0.0.1:1'), openPolicyDoc('http://127.0.0.1:2', 'http://127.0.0.1:1')]);
}, 60_000);
afterAll(async () => { await relay?.close(); await nats?.stop(); });

describe('policy CLI when the bucket history never arrives', () => {
  it('push and history end with exit 1 naming the history, nothing pushed; the same push through a working bus succeeds', async () => {
    const policy = writePolicy(openPolicyDoc('http://127.0.0.1:3', 'http://127.0.0.1:1'));
    const [push, history] = await Promise.all([
      runCli(['policy', 'push', '--config', starved, '--policy', policy], ENV, 40_000),
      runCli(['policy', 'history', '--config', starved], ENV, 40_000),
    ]);
    expect(relay.dropped()).toBeGreaterThan(0); // the relay did starve a consumer
    expect(push.code, push.stdout + push.stderr).toBe(1);
    expect(push.stderr).toMatch(/push failed: TIMEOUT: the policy bucket's history/);
    expect(history.code, history.stdout + history.stderr).not.toBe(0);
    expect(history.stderr).toMatch(/TIMEOUT: the policy bucket's history/);
    const after = await runCli(['policy', 'history', '--config', direct], ENV, 30_000);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout.trim().split('\n')).toHaveLength(2); // versions 1 and 2 only
    const ok = await runCli(['policy', 'push', '--config', direct, '--policy', policy], ENV, 30_000);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/pushed version 3/);
  }, 90_000);
});
