// Uploads across a reload that replaces the upstream's pool (new targets): the upload finishes, and
// the client's keep-alive connection serves its next request. Found by the reload probe: the next
// request on the connection of an upload that arrived whole before the new pool had connected got
// no answer, and uWS reset the connection 8–12 s later (the client saw "read ECONNRESET"). Also what
// was already sound and must stay so: an upload still arriving, and pipelined GETs still waiting for
// their answers, on the retired pool finish there (README "Hot reload").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { baseConfig, reloadWith, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { parseResponse, type RawResponse } from '../../helpers/raw-http.js';
import { h2Connect, h2Request, http2PortOf } from '../../helpers/h2-client.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

const UPLOAD = 256 * 1024;

let a: ScriptedUpstream;
let b: ScriptedUpstream;
let proxy: ProxyProcess;
let version = 0;

/** Answers still held by the upstreams (GET /hold), released by the test. */
const held: ServerResponse[] = [];

/** Answers `got <bytes>` once the whole request body arrived; GET /hold waits for the test. */
function countBytes(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/hold') { held.push(res); return; }
  let n = 0;
  req.on('data', (c: Buffer) => { n += c.length; });
  req.on('end', () => res.end(`got ${n}`));
}

/**
 * Every reload builds a new pool: the target alternates and keep_alive_ms differs. One connection
 * with pipelining, so that GETs in flight share it (an upload waits for it to be empty).
 */
function config(target: string): Record<string, unknown> {
  version++;
  return baseConfig(target, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    upstreams: { app: { targets: [target], pipelining: 4, pool: { connections: 1, keep_alive_ms: 4_000 + version } } } });
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

  it('an upload still arriving when the reload retires its pool finishes there (200, every byte)', async () => {
    const conn = await Conn.open(proxy.port);
    try {
      const whole = upload(UPLOAD);
      const [fromA, fromB] = [a.seen.length, b.seen.length];
      conn.socket.write(whole.subarray(0, whole.length - 64 * 1024));
      const arriving = (): boolean => [...a.seen.slice(fromA), ...b.seen.slice(fromB)].some((s) => s.bodyBytes > 0);
      await waitFor('the upload\'s first bytes at the upstream', arriving, 5_000);
      await reloadWith(proxy, config((version % 2 === 0 ? a : b).url));
      const up = await conn.send('the upload\'s answer', whole.subarray(whole.length - 64 * 1024));
      expect(`${up.status} ${up.body.toString()}`).toBe(`200 got ${UPLOAD}`);
    } finally {
      conn.socket.destroy();
    }
  });

  it('GETs in flight on the retired pool (pipelined behind one, or queued for its connection) get their answers (200)', async () => {
    held.length = 0;
    let answered = 0;
    const answers = Array.from({ length: 3 }, () => new Promise<string>((resolve) => {
      const req = request(`${proxy.url}/hold`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => { answered++; resolve(`${res.statusCode} ${body}`); });
      });
      req.on('error', (e) => { answered++; resolve(`error ${e.message}`); });
      req.end();
    }));
    // the upstream holds the first; the two others wait behind it on the pool's one connection
    await waitFor('the first GET at the upstream', () => held.length >= 1, 5_000);
    await reloadWith(proxy, config((version % 2 === 0 ? a : b).url));
    // node:http reads a pipelined request only once the one before it is answered: release each as it comes
    await waitFor('every GET answered', () => {
      while (held.length > 0) held.shift()!.end('held');
      return answered === 3;
    }, 5_000, { detail: () => proxy.output().slice(-2000) });
    expect(await Promise.all(answers)).toEqual(['200 held', '200 held', '200 held']);
  });

  it('HTTP/2 listener: uploads on one session across reloads are answered (200, every byte), and so is the request after them', async () => {
    const session = await h2Connect(`http://127.0.0.1:${http2PortOf(proxy.logs())}`);
    try {
      for (let i = 0; i < 2; i++) {
        await reloadWith(proxy, config((version % 2 === 0 ? a : b).url));
        const up = await h2Request(session, { ':method': 'POST', ':path': '/up', 'content-length': String(UPLOAD) }, Buffer.alloc(UPLOAD, 120));
        expect(`${up.status} ${up.text}`).toBe(`200 got ${UPLOAD}`);
        expect((await h2Request(session, { ':method': 'GET', ':path': '/next' })).status).toBe(200);
      }
    } finally {
      session.close();
    }
  });
});
