// Uploads across a reload that replaces the upstream's pool (new targets): the upload finishes, and
// the client's keep-alive connection serves its next request. Found by the reload probe: the next
// request on the connection of an upload that arrived whole before the new pool had connected got
// no answer, and uWS reset the connection 8–12 s later (the client saw "read ECONNRESET").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { parseResponse, type RawResponse } from '../../helpers/raw-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

const UPLOAD = 256 * 1024;

let a: ScriptedUpstream;
let b: ScriptedUpstream;
let proxy: ProxyProcess;
let version = 0;

/** Answers `got <bytes>` once the whole request body arrived. */
function countBytes(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  let n = 0;
  req.on('data', (c: Buffer) => { n += c.length; });
  req.on('end', () => res.end(`got ${n}`));
}

/** Every reload builds a new pool: the target alternates and keep_alive_ms differs. */
function config(target: string): Record<string, unknown> {
  version++;
  return baseConfig(target, { upstreams: { app: { targets: [target], pool: { keep_alive_ms: 4_000 + version } } } });
}

/** One keep-alive client connection, answers read in order. */
class Conn {
  private buf = Buffer.alloc(0);
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); });
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => { this.closed = true; });
  }

  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  /** Write `data` and wait for the next answer (named `what` if it does not come). */
  async send(what: string, data: Buffer | string): Promise<RawResponse> {
    this.socket.write(data);
    let r: RawResponse | null = null;
    await waitFor(what, () => {
      r = parseResponse(this.buf, false);
      if (r === null && this.closed) throw new Error(`${what}: the proxy closed the connection without an answer`);
      return r !== null;
    }, 10_000, { detail: () => proxy.output().slice(-2000) });
    const got = r!;
    this.buf = Buffer.alloc(0); // one answer in flight at a time
    return got;
  }
}

function upload(bytes: number): Buffer {
  return Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: ${bytes}\r\n\r\n`, 'latin1'), Buffer.alloc(bytes, 120)]);
}

const GET = 'GET /next HTTP/1.1\r\nhost: t\r\n\r\n';

beforeAll(async () => {
  [a, b] = await Promise.all([startScriptedUpstream(countBytes), startScriptedUpstream(countBytes)]);
  proxy = await startProxy(config(a.url));
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

describe('uploads across a reload that replaces the pool', () => {
  it('the keep-alive connection of an upload serves its next request (200), not a reset 8–12 s later', async () => {
    const conn = await Conn.open(proxy.port);
    try {
      let target = b;
      for (let i = 0; i < 3; i++) {
        expect((await conn.send('the GET before the reload', GET)).status).toBe(200);
        await reloadWith(proxy, config(target.url)); // the next request finds a pool with no connection yet
        const up = await conn.send('the upload\'s answer', upload(UPLOAD));
        expect(`${up.status} ${up.body.toString()}`).toBe(`200 got ${UPLOAD}`);
        const next = await conn.send('an answer to the request after the upload on its connection', GET);
        expect(next.status).toBe(200);
        target = target === a ? b : a;
      }
    } finally {
      conn.socket.destroy();
    }
  });
});
