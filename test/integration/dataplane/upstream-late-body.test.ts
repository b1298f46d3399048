// A response that has no body by its request or status (HEAD, 204, 304) but whose head announces
// one (Content-Length > 0 or chunked) — or a HEAD answer that says nothing of its framing — may be followed by that body in a later read: a 204 doing so
// is out of step with HTTP (RFC 9110 §8.6), and an upstream that sends the body with its HEAD
// answer is a common bug. Those bytes are not the next request's response. The connection must not
// go back to the pool, or the next client (another user, maybe another route) gets them as its answer.
// The same for bytes an idle connection receives in the event-loop turn that hands it a request.
import { it, expect, beforeAll, afterAll } from 'vitest';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import http from 'node:http';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest, requestText } from '../../helpers/raw-http.js';
import { freezeProcess } from '../../helpers/freeze.js';
import { waitFor } from '../../helpers/wait.js';

const FORGED = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nFORGED';
/** Response per path: a head, and the rest 40 ms later in another write (another TCP segment). */
const SCRIPT: Record<string, { now: string; later: string }> = {
  '/no-content-cl': { now: 'HTTP/1.1 204 No Content\r\nContent-Length: 31\r\n\r\n', later: FORGED },
  '/no-content-chunked': { now: 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', later: FORGED },
  '/no-content': { now: 'HTTP/1.1 204 No Content\r\n\r\n', later: '' },
  '/head-cl': { now: 'HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\n', later: FORGED },
  '/head-bare': { now: 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n', later: FORGED },
  '/head-cl-zero': { now: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', later: '' },
  '/head-chunked': { now: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', later: `2c\r\n${FORGED}\r\n0\r\n\r\n` },
  '/not-modified-cl': { now: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 31\r\n\r\n', later: FORGED },
  '/not-modified': { now: 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n', later: '' },
  '/victim': { now: 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nvictim!', later: '' },
  // this upstream reads no request body (a CL.0 server): a GET's body is its next request
  '/get-body': { now: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', later: '' },
  '/hidden': { now: '', later: FORGED },
  '/by-hand': { now: '', later: '' }, // the test writes the answer
};

let upstream: Server;
/** A plain node:http upstream that answers at once (the overload test). */
let fast: http.Server;
let proxy: ProxyProcess;
let connections = 0;
/** Request paths in the order the upstream read them. */
const paths: string[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  upstream = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => { /* the proxy may close it */ });
    let buf = '';
    // answers go out in request order: a response waits until the one before it was fully written
    let chain = Promise.resolve();
    const write = (bytes: string, afterMs: number) => (): Promise<void> => new Promise((r) => setTimeout(() => { if (!s.destroyed && bytes !== '') s.write(bytes); r(); }, afterMs));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1] ?? '';
        paths.push(path);
        buf = buf.slice(end + 4);
        const step = SCRIPT[path] ?? { now: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', later: '' };
        // the head after 100 ms (the next client's request is queued behind it by then), the rest 40 ms later
        chain = chain.then(write(step.now, step.later === '' ? 0 : 100)).then(write(step.later, 40));
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  fast = http.createServer((req, res) => { req.resume(); res.end('fast!'); });
  fast.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => fast.listen(0, '127.0.0.1', r));
  const fastUrl = `http://127.0.0.1:${(fast.address() as AddressInfo).port}`;
  // one connection per target: the victim's request waits for the 204's connection and is written on it at once
  proxy = await startProxy(baseConfig(url, {
    upstreams: { app: { targets: [url], pool: { connections: 1 } }, fast: { targets: [fastUrl] } },
    routes: [{ name: 'fast', match: { path: '/fast' }, upstream: 'fast', auth: 'none' }, { name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
  }), { env: ADMIN_ENV });
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => upstream?.close(() => r()));
  fast?.closeAllConnections();
  await new Promise<void>((r) => fast?.close(() => r()));
});

/** portcullis_upstream_stray_bytes_total of `upstream` from the admin /metrics. */
async function strayMetric(upstream: string): Promise<number> {
  const r = await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const line = (await r.text()).split('\n').find((l) => l.startsWith(`portcullis_upstream_stray_bytes_total{upstream="${upstream}"}`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The bodiless answer (204, or `method` HEAD/304) and, queued behind it on the one pooled connection, another client's request. */
async function afterA204(path: string, method = 'GET'): Promise<{ first: number; victim: string }> {
  const [first, victim] = await Promise.all([
    rawRequest(proxy.port, requestText(method, path), { head: method === 'HEAD' }),
    (async () => {
      await new Promise((r) => setTimeout(r, 30)); // after the 204's request took the connection, before its answer
      return rawRequest(proxy.port, requestText('GET', '/victim'), { timeoutMs: 3_000 });
    })(),
  ]);
  return { first: first.status, victim: `${victim.status} ${victim.body.toString('latin1')}` };
}

it('204 with Content-Length, body bytes later: the next client gets its own response, not those bytes', async () => {
  const r = await afterA204('/no-content-cl');
  expect(r.first).toBe(204);
  expect(r.victim).toBe('200 victim!');
});

it('204 with Transfer-Encoding: chunked, bytes later: the same', async () => {
  const r = await afterA204('/no-content-chunked');
  expect(r.first).toBe(204);
  expect(r.victim).toBe('200 victim!');
});

it('a plain 204 keeps its connection for the next request (no new upstream connection)', async () => {
  expect((await rawRequest(proxy.port, requestText('GET', '/victim'))).status).toBe(200);
  const before = connections;
  const r = await afterA204('/no-content');
  expect(r.first).toBe(204);
  expect(r.victim).toBe('200 victim!');
  expect(connections).toBe(before);
});

it('HEAD answered with Content-Length, the body sent anyway in a later read: the next client gets its own response', async () => {
  const r = await afterA204('/head-cl', 'HEAD');
  expect(r.first).toBe(200);
  expect(r.victim).toBe('200 victim!');
});

it('HEAD answered chunked, the chunked body sent anyway in a later read: the same', async () => {
  const r = await afterA204('/head-chunked', 'HEAD');
  expect(r.first).toBe(200);
  expect(r.victim).toBe('200 victim!');
});

it('304 with Content-Length, bytes later: the same', async () => {
  const r = await afterA204('/not-modified-cl');
  expect(r.first).toBe(304);
  expect(r.victim).toBe('200 victim!');
});

it('a 304 without a length keeps its connection for the next request (no new upstream connection)', async () => {
  expect((await rawRequest(proxy.port, requestText('GET', '/victim'))).status).toBe(200);
  const before = connections;
  const r = await afterA204('/not-modified');
  expect(r.first).toBe(304);
  expect(r.victim).toBe('200 victim!');
  expect(connections).toBe(before);
});

it('HEAD answered with no framing field at all, a body sent anyway in a later read: the client gets the HEAD answer, the next client its own response', async () => {
  const r = await afterA204('/head-bare', 'HEAD');
  expect(r.first).toBe(200);
  expect(r.victim).toBe('200 victim!');
});

it('HEAD answered with Content-Length: 0 keeps its connection for the next request (no new upstream connection)', async () => {
  expect((await rawRequest(proxy.port, requestText('GET', '/victim'))).status).toBe(200);
  const before = connections;
  const r = await afterA204('/head-cl-zero', 'HEAD');
  expect(r.first).toBe(200);
  expect(r.victim).toBe('200 victim!');
  expect(connections).toBe(before);
});

it('a GET whose body the upstream does not read (its next request, answered late): the next client gets its own response, not that answer', async () => {
  const hidden = 'GET /hidden HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const [first, victim] = await Promise.all([
    rawRequest(proxy.port, requestText('GET', '/get-body', [], hidden)),
    (async () => {
      await new Promise((r) => setTimeout(r, 30)); // queued behind the GET on the one pooled connection
      return rawRequest(proxy.port, requestText('GET', '/victim'), { timeoutMs: 3_000 });
    })(),
  ]);
  expect(`${first.status} ${first.body.toString('latin1')}`).toBe('200 ok');
  expect(`${victim.status} ${victim.body.toString('latin1')}`).toBe('200 victim!');
});

it('bytes an idle connection got before the next request was written, read in the same turn: the next client gets its own response, not those bytes', async () => {
  // A kept-alive client, so that its next request is read in the same turn as the upstream's bytes
  // (a new connection would be accepted first and read a turn later).
  const client = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
  let text = '';
  client.setEncoding('latin1');
  client.on('data', (d: string) => { text += d; });
  client.on('error', () => { /* the check below says what arrived */ });
  await new Promise<void>((r) => client.once('connect', () => r()));
  try {
    client.write(requestText('GET', '/victim'));
    await waitFor('the first answer', () => text.includes('victim!'));
    text = '';
    const strayBefore = await strayMetric('app');
    const idle = [...sockets].filter((s) => !s.destroyed);
    expect(idle).toHaveLength(1); // the pool's one connection, idle now
    idle[0]!.setNoDelay(true); // the stray bytes leave at once, not held by Nagle until the proxy acks the answer
    // The proxy stopped, the client's request first and then the upstream's stray response reach it:
    // a busy proxy sees them in one turn whenever they arrive within one.
    freezeProcess(proxy.proc.pid!);
    try {
      await new Promise<void>((r) => client.write(requestText('GET', '/victim'), () => r()));
      await new Promise<void>((r) => idle[0]!.write(FORGED, () => r()));
    } finally {
      process.kill(proxy.proc.pid!, 'SIGCONT');
    }
    await waitFor('the second answer', () => text.includes('victim!') || text.includes('FORGED') || /^HTTP\/1\.1 5/.test(text), 5_000, { detail: () => text });
    expect(text).not.toContain('FORGED');
    expect(text).toMatch(/^HTTP\/1\.1 200 [^]*victim!$/);
    expect(await strayMetric('app')).toBe(strayBefore + 1); // the operator's count of such connections
  } finally {
    client.destroy();
  }
});

it('an answer that ends exactly where a read ends, stray bytes in the next read of the same turn: the client queued behind gets its own response', async () => {
  // the victim's connection is open and served once, so that its next request is read in the same turn
  const victim = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
  let text = '';
  victim.setEncoding('latin1');
  victim.on('data', (d: string) => { text += d; });
  victim.on('error', () => { /* the check below says what arrived */ });
  await new Promise<void>((r) => victim.once('connect', () => r()));
  try {
    victim.write(requestText('GET', '/victim'));
    await waitFor('the victim\'s first answer', () => text.includes('victim!'));
    text = '';
    const a = rawRequest(proxy.port, requestText('GET', '/by-hand'));
    await waitFor('the upstream to read /by-hand', () => paths.at(-1) === '/by-hand');
    const up = [...sockets].filter((s) => !s.destroyed);
    expect(up).toHaveLength(1);
    up[0]!.setNoDelay(true);
    // 64 KiB: the proxy's read buffer, so the answer ends with the first read and the stray bytes come in the next
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 00000\r\n\r\n';
    const answer = `HTTP/1.1 200 OK\r\nContent-Length: ${65536 - head.length}\r\n\r\n${'b'.repeat(65536 - head.length)}`;
    expect(answer.length).toBe(65536);
    // stopped, the proxy then reads the victim's request (queued: the one connection is busy), then the
    // upstream's answer and, in a second read of the same turn, the stray bytes behind it
    freezeProcess(proxy.proc.pid!);
    try {
      await new Promise<void>((r) => victim.write(requestText('GET', '/victim'), () => r()));
      await new Promise<void>((r) => up[0]!.write(answer + FORGED, () => r()));
    } finally {
      process.kill(proxy.proc.pid!, 'SIGCONT');
    }
    expect((await a).status).toBe(200);
    await waitFor('the victim\'s answer', () => text.includes('victim!') || text.includes('FORGED') || /^HTTP\/1\.1 5/.test(text), 5_000, { detail: () => text });
    expect(text).not.toContain('FORGED');
    expect(text).toMatch(/^HTTP\/1\.1 200 [^]*victim!$/);
  } finally {
    victim.destroy();
  }
});

it('a proxy with more than 1024 ready sockets (libuv polls again within the iteration): answers on reused connections, read later in the iteration, reach their clients — no 502', async () => {
  // libuv hands the loop at most 1024 ready sockets per epoll_wait and, when a batch is full, polls again
  // without a new loop count: the answer to a request written in the first batch is read in a later one.
  const n = 1_100;
  const clients: Socket[] = [];
  const texts: string[] = [];
  let fastRequests = 0;
  fast.on('request', () => { fastRequests++; });
  try {
    // upstream connections left idle in the pool, to be reused by the first batch's requests
    await Promise.all(Array.from({ length: 32 }, () => rawRequest(proxy.port, requestText('GET', '/fast'))));
    for (let i = 0; i < n; i++) {
      const c = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
      const k = texts.push('') - 1;
      c.setEncoding('latin1');
      c.on('data', (d: string) => { texts[k] += d; });
      c.on('error', () => { /* the check below says what arrived */ });
      clients.push(c);
    }
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.once('connect', () => r()))));
    // accepted in order: once a later connection is answered, the proxy holds every one above, idle
    expect((await rawRequest(proxy.port, requestText('GET', '/fast'))).status).toBe(200);
    const before = fastRequests;
    // stopped, every client's request reaches it: it wakes with more ready sockets than one batch holds
    freezeProcess(proxy.proc.pid!);
    try {
      await Promise.all(clients.map((c) => new Promise<void>((r) => c.write(requestText('POST', '/fast', [['Content-Length', '0']]), () => r()))));
    } finally {
      process.kill(proxy.proc.pid!, 'SIGCONT');
    }
    const done = (t: string): boolean => t.includes('\r\n\r\n') && (t.endsWith('fast!') || !t.startsWith('HTTP/1.1 200'));
    await waitFor('every client\'s answer', () => texts.every(done), 15_000, { detail: () => `${texts.filter(done).length} of ${n} answered` });
    const statuses: Record<string, number> = {};
    for (const t of texts) statuses[t.slice(9, 12)] = (statuses[t.slice(9, 12)] ?? 0) + 1;
    expect(statuses).toEqual({ 200: n });
    expect(fastRequests - before).toBe(n); // each request reached the upstream once
    expect(await strayMetric('fast')).toBe(0);
  } finally {
    for (const c of clients) c.destroy();
  }
});

it('a DELETE with a body tells the upstream its connection ends there (Connection: close: the upstream closes first, the proxy keeps no TIME_WAIT port); one without keeps it alive', async () => {
  const seen: Array<string | undefined> = [];
  const onRequest = (req: http.IncomingMessage): void => { seen.push(req.headers.connection); };
  fast.on('request', onRequest);
  try {
    const withBody = await rawRequest(proxy.port, requestText('DELETE', '/fast', [['Content-Type', 'application/json']], '{"ids":[1,2]}'));
    const without = await rawRequest(proxy.port, requestText('DELETE', '/fast'));
    expect([withBody.status, without.status]).toEqual([200, 200]);
    expect(seen).toEqual(['close', undefined]);
  } finally {
    fast.off('request', onRequest);
  }
});
