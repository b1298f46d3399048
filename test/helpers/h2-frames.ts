// Raw HTTP/2 frames for attack tests (what a client library will not send): the connection
// preface, frame encoding, a tiny HPACK encoder (literals, incremental indexing, indexed
// references; no Huffman) and a reader that reports GOAWAY, RST_STREAM and socket close.
import net from 'node:net';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits. */
function int(n: number, bits: number, first: number): Buffer {
  const max = (1 << bits) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  n -= max;
  while (n >= 128) { out.push((n % 128) + 128); n = Math.floor(n / 128); }
  out.push(n);
  return Buffer.from(out);
}
const str = (s: string): Buffer => Buffer.concat([int(Buffer.byteLength(s), 7, 0), Buffer.from(s)]);

/** Literal header field without indexing, new name (RFC 7541 §6.2.2). */
export const literal = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]);
/** Literal header field with incremental indexing, new name (§6.2.1): enters the dynamic table at index 62. */
export const indexedLiteral = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), str(name), str(value)]);
/** Indexed header field (§6.1). */
export const indexed = (i: number): Buffer => int(i, 7, 0x80);

/** The header block of a GET `path` (h2c). */
export function getBlock(path: string, authority = 'localhost'): Buffer {
  return Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', authority)]);
}

export interface RawSession {
  readonly socket: net.Socket;
  send(...frames: Buffer[]): void;
  /** Error code of the first GOAWAY, once received. */
  goaway: number | null;
  /** RST_STREAM codes received, by stream id. */
  readonly resets: Map<number, number>;
  /** HEADERS frames received (responses), by stream id. */
  readonly responses: Set<number>;
  closed: boolean;
  /** Resolves when the server sent GOAWAY and/or closed the connection, or after `ms` with what was seen. */
  ended(ms: number): Promise<{ goaway: number | null; closed: boolean }>;
}

/** Connect to an h2c port, send the preface and an empty SETTINGS, ACK the server's SETTINGS. */
export function rawSession(port: number): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const waiters: Array<() => void> = [];
    const s: RawSession = {
      socket, goaway: null, resets: new Map(), responses: new Set(), closed: false,
      send: (...frames) => { if (!socket.destroyed) socket.write(Buffer.concat(frames)); },
      ended: (ms) => new Promise((res) => {
        const done = (): void => res({ goaway: s.goaway, closed: s.closed });
        if (s.closed) { done(); return; }
        const t = setTimeout(done, ms);
        waiters.push(() => { clearTimeout(t); done(); });
      }),
    };
    socket.on('connect', () => { socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)])); resolve(s); });
    socket.on('error', (err) => { if (!s.closed) { s.closed = true; waiters.forEach((w) => w()); } reject(err); });
    socket.on('close', () => { s.closed = true; waiters.forEach((w) => w()); });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!, flags = buf[4]!, id = buf.readUInt32BE(5) & 0x7fffffff;
        const p = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0) s.send(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        else if (type === FRAME.GOAWAY) s.goaway ??= p.readUInt32BE(4); // the first one says why
        else if (type === FRAME.RST_STREAM) s.resets.set(id, p.readUInt32BE(0));
        else if (type === FRAME.HEADERS) s.responses.add(id);
      }
    });
  });
}

export const H2_ENHANCE_YOUR_CALM = 0xb;
