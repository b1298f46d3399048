// Probe matrix: request vectors on the uWS HTTP/1.1 door and the h2c door, against a raw upstream that
// reads bodies strictly — or, for the CL.0 rows, ignores the body of GET/HEAD/OPTIONS as some servers
// do. The finding would be a request line `/admin/...` (a protected route) reaching the upstream, or a
// response landing on another client. Run: node bench/probes/desync-doors.mjs
import http2 from 'node:http2';
import { startProxy, probeConfig, rawUpstream, rawClient, until, sleep } from './desync-common.mjs';

const SMUG = 'GET /admin/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n';
const bodyless = new Set(['GET', 'HEAD', 'OPTIONS']);
const up = await rawUpstream(
  (line) => `HTTP/1.1 200 OK\r\nContent-Length: ${line.length + 8}\r\n\r\nreached ${line}`,
  (line) => (bodyless.has(line.split(' ')[0]) ? 'ignore-body' : null),
);
const proxy = await startProxy(probeConfig(up.url, '  http2:\n    listen: { host: 127.0.0.1, port: 0 }'));
const h2port = Number(proxy.listening.http2Port ?? proxy.listening.http2?.port ?? 0);
const rows = [];
const seen = () => up.conns.flatMap((c) => c.requests);

async function h1Row(name, bytes) {
  const before = seen().length;
  const c = await rawClient(proxy.port);
  c.send(bytes);
  await until(() => c.closed || /HTTP\/1\.1 \d{3}[^]*\r\n\r\n/.test(c.text), 1_500);
  await sleep(150);
  // a follow-up on a fresh client: does it get someone else's answer?
  const v = await rawClient(proxy.port);
  v.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => v.text.includes('\r\n\r\n') && (v.text.includes('reached') || v.closed), 1_500);
  const got = seen().slice(before);
  rows.push({ door: 'h1', name, client: c.text.split('\r\n')[0] || (c.closed ? '(closed)' : '(nothing)'), upstreamSaw: got.join(' | '), smuggled: got.some((l) => l.includes('SMUGGLED')) || c.text.includes('SMUGGLED'), victimOk: v.text.includes('reached GET /pub/victim') });
  c.close(); v.close();
}

async function h2Row(name, headers, body, endOpts = {}) {
  const before = seen().length;
  const s = http2.connect(`http://127.0.0.1:${h2port}`);
  s.on('error', () => {});
  let status = '';
  try {
    await new Promise((resolve) => {
      let req;
      try { req = s.request(headers, { endStream: body === null }); } catch (e) { status = `client refused: ${e.code}`; resolve(); return; }
      req.on('response', (h) => { status = String(h[':status']); });
      req.on('error', (e) => { status ||= `err ${e.code ?? e.message}`; resolve(); });
      req.on('close', () => { status ||= `closed rst=${req.rstCode}`; resolve(); });
      req.resume();
      if (body !== null) req.end(body);
      setTimeout(resolve, 1_500);
    });
  } finally { s.close(); s.destroy(); }
  await sleep(150);
  const got = seen().slice(before);
  rows.push({ door: 'h2c', name, client: status, upstreamSaw: got.join(' | '), smuggled: got.some((l) => l.includes('SMUGGLED')), victimOk: '' });
}

try {
  // CL.0 against an upstream that ignores GET/HEAD/OPTIONS bodies
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'DELETE']) {
    await h1Row(`${m} with Content-Length body = a request (CL.0 upstream)`, `${m} /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`);
    await h1Row(`${m} with chunked body = a request (CL.0 upstream)`, `${m} /pub/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${SMUG.length.toString(16)}\r\n${SMUG}\r\n0\r\n\r\n`);
    await h2Row(`${m} with DATA = a request (CL.0 upstream)`, { ':method': m, ':path': '/pub/a', ':authority': 'x' }, SMUG);
  }
  await h1Row('Expect: 100-continue GET, body = request', `GET /pub/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`);
  await h1Row('GET Content-Length: 0 then a pipelined request to /admin', `GET /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n${SMUG}`);
  // h2 downgrade
  await h2Row('content-length smaller than DATA', { ':method': 'POST', ':path': '/pub/a', ':authority': 'x', 'content-length': '1' }, `x${SMUG}`);
  await h2Row('content-length larger than DATA', { ':method': 'POST', ':path': '/pub/a', ':authority': 'x', 'content-length': '500' }, 'x');
  await h2Row('transfer-encoding: chunked in h2', { ':method': 'POST', ':path': '/pub/a', ':authority': 'x', 'transfer-encoding': 'chunked' }, `0\r\n\r\n${SMUG}`);
  await h2Row('te: gzip', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', te: 'gzip' }, null);
  await h2Row(':path with a space and HTTP/1.1 line', { ':method': 'GET', ':path': '/pub/a HTTP/1.1\r\nHost: x\r\n\r\nGET /admin/SMUGGLED', ':authority': 'x' }, null);
  await h2Row(':path with space', { ':method': 'GET', ':path': '/pub/a /admin/SMUGGLED', ':authority': 'x' }, null);
  await h2Row(':path with #', { ':method': 'GET', ':path': '/pub/a#/../../admin/SMUGGLED', ':authority': 'x' }, null);
  await h2Row(':path /pub/../admin', { ':method': 'GET', ':path': '/pub/../admin/SMUGGLED', ':authority': 'x' }, null);
  await h2Row(':method with space', { ':method': 'GET /admin/SMUGGLED HTTP/1.1\r\nX:', ':path': '/pub/a', ':authority': 'x' }, null);
  await h2Row(':authority with CRLF-free junk', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x/admin/SMUGGLED?' }, null);
  await h2Row(':authority vs host disagree', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', host: 'y' }, null);
  await h2Row('header value with LF', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', 'x-a': `a\n${SMUG}` }, null);
  await h2Row('header name with colon', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', 'x:a': 'b' }, null);
  await h2Row('header name with space', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', 'x a': 'b' }, null);
  await h2Row('pseudo-header :foo', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', ':foo': 'b' }, null);
  await h2Row(':path not starting with /', { ':method': 'GET', ':path': 'pub/a', ':authority': 'x' }, null);
  await h2Row('connection: keep-alive in h2', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', connection: 'keep-alive' }, null);
  await h2Row('upgrade: h2c in h2', { ':method': 'GET', ':path': '/pub/a', ':authority': 'x', upgrade: 'h2c' }, null);
} finally {
  await proxy.stop();
  await up.close();
}
console.table(rows.map((r) => ({ door: r.door, name: r.name.slice(0, 60), client: r.client.slice(0, 30), smuggled: r.smuggled, victimOk: r.victimOk })));
for (const r of rows) console.log(r.door, r.name, '=>', r.upstreamSaw);
for (const c of up.conns) if (/x-a:/i.test(c.raw)) console.log('x-a forwarded as:', JSON.stringify(c.raw.slice(c.raw.search(/x-a:/i), c.raw.search(/x-a:/i) + 80)));
