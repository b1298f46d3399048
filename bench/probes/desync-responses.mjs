// Probe: response-side framing from a raw HTTP/1.1 upstream. For each shape the first client asks for
// it, a second client's request is queued behind it on the one pooled connection; the finding would be
// bytes of the first answer (MARK) reaching the second client, or a connection reused after bad framing.
// Run: node bench/probes/desync-responses.mjs
import { startProxy, probeConfig, rawUpstream, rawClient, until, sleep } from './desync-common.mjs';

const MARK = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nMARKED';
const shapes = {
  'cl-and-te': `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${MARK}`,
  'te-chunked-identity': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${MARK}`,
  'te-xchunked': `HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${MARK}`,
  'te-space-chunked': `HTTP/1.1 200 OK\r\nTransfer-Encoding:  chunked \r\n\r\n0\r\n\r\n${MARK}`,
  'cl-plus': `HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok${MARK}`,
  'cl-comma': `HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok${MARK}`,
  'cl-two-values': `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nok${MARK}`,
  'cl-shorter-than-body': `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${MARK}`,
  'chunk-0x': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n${MARK}`,
  'chunk-ext-quote-lf': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a="\n"\r\nok\r\n0\r\n\r\n${MARK}`,
  'chunk-overflow': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000002\r\nok\r\n0\r\n\r\n${MARK}`,
  'bare-lf-head': `HTTP/1.1 200 OK\nContent-Length: 2\n\nok${MARK}`,
  'obs-fold-te': `HTTP/1.1 200 OK\r\nX-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok${MARK}`,
  'nul-in-header': `HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok${MARK}`,
  'space-in-name': `HTTP/1.1 200 OK\r\nContent Length: 40\r\nContent-Length: 2\r\n\r\nok${MARK}`,
  '100-then-200': `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
  '101-unasked': `HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n${MARK}`,
  'http10-keepalive-no-length': `HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nok${MARK}`,
  '204-with-body': `HTTP/1.1 204 No Content\r\n\r\n${MARK}`,
  '304-with-cl-body': `HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\n${MARK}`,
  'split-every-byte': 'SPLIT',
};
const up = await rawUpstream((line, c) => {
  const path = line.split(' ')[1].slice(5);
  if (path === 'victim') return 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nvictim';
  const body = shapes[path];
  if (body === 'SPLIT') {
    const bytes = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
    c.sock.setNoDelay(true);
    (async () => { for (const ch of bytes) { if (c.sock.destroyed) return; c.sock.write(ch); await sleep(2); } })();
    return null;
  }
  // the answer 60 ms late: the victim's request is queued by then
  setTimeout(() => { if (!c.sock.destroyed) c.sock.write(body); }, 60);
  return null;
});
const proxy = await startProxy(probeConfig(up.url));
const rows = [];
try {
  for (const name of Object.keys(shapes)) {
    const a = await rawClient(proxy.port);
    const v = await rawClient(proxy.port);
    a.send(`GET /pub/${name} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await sleep(20);
    v.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => (a.closed || /\r\n\r\n/.test(a.text)) && (v.text.includes('victim') || v.text.includes('MARKED') || v.closed), 3_000);
    await sleep(100);
    rows.push({ shape: name, first: a.text.split('\r\n')[0] || '(none)', firstHasMark: a.text.includes('MARKED'), victim: v.text.includes('MARKED') ? 'GOT MARKED (desync)' : v.text.includes('victim') ? 'its own' : v.text.split('\r\n')[0] || '(none)' });
    a.close(); v.close();
  }
} finally {
  await proxy.stop();
  await up.close();
}
console.table(rows);
