// One keep-alive HTTP/1.1 client connection for the stall suites: GET /api/x with a token on the same
// socket, answers read in order (status and WWW-Authenticate) — requests can be written while the server is stopped.
import { connect, type Socket } from 'node:net';

/** One keep-alive HTTP/1.1 connection: GET /api/x with a token, answers read in order (status and WWW-Authenticate). */
export class KeepAlive {
  private buf = '';
  private readonly waiting: Array<(a: { status: number; challenge: string }) => void> = [];
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.buf += d; this.drain(); });
  }

  static open(port: number): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new KeepAlive(s)));
      s.once('error', reject);
    });
  }

  get(token: string): Promise<{ status: number; challenge: string }> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(`GET /api/x HTTP/1.1\r\nhost: t\r\nauthorization: Bearer ${token}\r\n\r\n`);
    });
  }

  /** The server's end of this connection: its port pair as /proc/net/tcp shows it. */
  localPort(): number { return this.socket.localPort!; }

  private drain(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + length) return;
      this.buf = this.buf.slice(end + 4 + length);
      const status = Number(head.slice(9, 12));
      const challenge = /\r\nwww-authenticate: *([^\r]*)/i.exec(head)?.[1] ?? '';
      this.waiting.shift()?.({ status, challenge });
    }
  }
}
