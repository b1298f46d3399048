// A TCP relay on 127.0.0.1 port 0 in front of one local port (a nats-server) that a test can cut —
// every socket destroyed, new connections refused — and restore, to take a member off the bus; or keep
// off only the connections whose CONNECT matches (one of a member's NATS connections by its name).
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A cuttable TCP relay to `127.0.0.1:<targetPort>`; `url` is its nats:// address. */
export class Relay {
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  /** Connections let through so far. */
  accepted = 0;
  /** While set, a connection whose first bytes from the client match is closed (a NATS client's CONNECT names it): one of a process's connections kept off. */
  refusing: RegExp | null = null;
  private constructor(private readonly server: Server, readonly port: number) {}

  /** Listen on a free loopback port and relay every connection to `targetPort`. */
  static async start(targetPort: number): Promise<Relay> {
    let relay: Relay | null = null;
    const server = createServer((client) => relay!.accept(client, targetPort));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    relay = new Relay(server, typeof a === 'object' && a !== null ? a.port : 0);
    return relay;
  }

  /** The relay as a NATS server URL. */
  get url(): string { return `nats://127.0.0.1:${this.port}`; }

  private accept(client: Socket, targetPort: number): void {
    if (this.blocked) { client.destroy(); return; }
    this.accepted++;
    const up = connect(targetPort, '127.0.0.1');
    for (const [s, other] of [[client, up], [up, client]] as const) {
      this.sockets.add(s);
      s.on('error', () => other.destroy());
      s.on('close', () => { this.sockets.delete(s); other.destroy(); });
    }
    up.pipe(client);
    const refusing = this.refusing;
    if (refusing === null) { client.pipe(up); return; }
    client.once('data', (first: Buffer) => {
      if (refusing.test(first.toString('latin1'))) { client.destroy(); return; }
      up.write(first);
      client.pipe(up);
    });
  }

  /** Destroy every relayed socket and refuse new connections until `restore()`. */
  cut(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Accept and relay connections again. */
  restore(): void {
    this.blocked = false;
  }

  /** Cut and stop listening. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
