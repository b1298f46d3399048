// Pieces of the receiver-thread suites: a TCP relay in front of nats-server that
// can cut and refuse only the receiver threads' connections (told apart by the NATS client name in CONNECT).
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

/** The relay: `url` to give members; `cutReceivers(true)` closes the receiver threads' connections and refuses new ones. */
export interface NatsRelay {
  readonly url: string;
  cutReceivers(on: boolean): void;
  /** Receiver-thread connections refused or cut so far. */
  readonly refused: number;
  close(): Promise<void>;
}

/** A plain TCP relay to `port` on 127.0.0.1 that reads the client's CONNECT line for its name. */
export async function startNatsRelay(port: number): Promise<NatsRelay> {
  let cut = false;
  let refused = 0;
  const receivers = new Set<Socket>();
  const all = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = tcpConnect({ host: '127.0.0.1', port });
    all.add(c);
    let head = '';
    let known = false;
    const end = (): void => { c.destroy(); up.destroy(); receivers.delete(c); all.delete(c); };
    c.on('data', (d: Buffer) => {
      if (!known) {
        head += d.toString('latin1');
        if (!head.includes('\r\n')) { up.write(d); return; }
        known = true;
        if (/"name":"[^"]*revocation-receiver"/.test(head)) {
          if (cut) { refused++; end(); return; }
          receivers.add(c);
        }
      }
      up.write(d);
    });
    up.on('data', (d: Buffer) => c.write(d));
    c.on('error', end);
    up.on('error', end);
    c.on('close', end);
    up.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `nats://127.0.0.1:${addr.port}`,
    cutReceivers(on: boolean) {
      cut = on;
      if (on) for (const s of [...receivers]) { refused++; s.destroy(); }
    },
    get refused() { return refused; },
    close: () => new Promise<void>((r) => { for (const s of all) s.destroy(); server.close(() => r()); }),
  };
}
