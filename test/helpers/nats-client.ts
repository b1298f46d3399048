// A real nats-server and one plain nats.js connection to it, started before the calling file's (or
// describe's) tests and closed and stopped after them: the set-up of suites that drive the bus or a
// JetStream stream directly, without a proxy.
import { afterAll, beforeAll } from 'vitest';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from './nats.js';

export interface NatsWithClient {
  readonly nats: NatsServer & { stop(): Promise<void> };
  /** The connection to `nats` (opened with the options given to natsWithClient). */
  readonly nc: NatsConnection;
}

/**
 * Register the beforeAll/afterAll in the caller; `options` are nats.js connection options beside the
 * server's URL. After the tests a paused server is resumed first (a close to a frozen server would wait),
 * and a connection that fails to close does not keep the server from stopping.
 */
export function natsWithClient(options: Omit<ConnectionOptions, 'servers'> = {}): NatsWithClient {
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  let nc: NatsConnection | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ ...options, servers: [nats.url] });
  }, 30_000);
  afterAll(async () => {
    nats?.resume();
    await nc?.close().catch(() => {});
    await nats?.stop();
  });

  const ready = <T>(v: T | undefined, what: string): T => { if (v === undefined) throw new Error(`natsWithClient: ${what} used before beforeAll`); return v; };
  return {
    get nats() { return ready(nats, 'nats'); },
    get nc() { return ready(nc, 'nc'); },
  };
}
