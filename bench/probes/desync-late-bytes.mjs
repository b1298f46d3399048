// Probe: an HTTP/1.1 upstream that sends bytes (a forged response) while its pooled connection is
// idle. Does the next client get them as its answer? The proxy is stopped (SIGSTOP) while the client's
// request and the upstream's stray bytes both arrive, so that one event-loop turn sees both — what a
// busy proxy sees when they arrive within one turn. Run: node bench/probes/desync-late-bytes.mjs
import { startProxy, probeConfig, rawUpstream, rawClient, until, sleep } from './desync-common.mjs';

const FORGED = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nFORGED';
const up = await rawUpstream((line) => {
  const path = line.split(' ')[1];
  return `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`;
});
const proxy = await startProxy(probeConfig(up.url));
const results = [];
try {
  for (const order of ['client first', 'upstream first', 'upstream while running (no stop)']) {
    for (let round = 0; round < 5; round++) {
      const c = await rawClient(proxy.port);
      c.send('GET /pub/warm HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => c.text.includes('/pub/warm'));
      const upConn = up.conns.find((x) => !x.sock.destroyed);
      await sleep(20);
      if (order === 'upstream while running (no stop)') {
        upConn.sock.write(FORGED);
        await sleep(50);
        c.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n');
      } else {
        proxy.proc.kill('SIGSTOP');
        await sleep(20);
        if (order === 'client first') { c.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n'); await sleep(20); upConn.sock.write(FORGED); }
        else { upConn.sock.write(FORGED); await sleep(20); c.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n'); }
        await sleep(20);
        proxy.proc.kill('SIGCONT');
      }
      await until(() => c.text.includes('FORGED') || c.text.includes('/pub/victim') || /HTTP\/1.1 50\d/.test(c.text.slice(c.text.indexOf('/pub/warm'))), 3_000);
      const after = c.text.slice(c.text.indexOf('/pub/warm') + 9);
      results.push({ order, round, victimGot: after.includes('FORGED') ? 'FORGED (another response)' : after.includes('/pub/victim') ? 'its own' : after.split('\r\n')[0] || '(nothing)' });
      c.close();
      await sleep(30);
    }
  }
} finally {
  await proxy.stop();
  await up.close();
}
console.table(results);
