// Probe: the CL.0 and early-answer shapes against real upstreams — Debian's nginx (`return` handlers,
// which answer without reading the body) and node:http with and without insecureHTTPParser. Does a
// request hidden in a GET/OPTIONS body, or in an upload answered early, ever run at the upstream?
// Run: node bench/probes/desync-real-upstreams.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, probeConfig, rawClient, until, sleep } from './desync-common.mjs';

const SMUG = 'GET /pub/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n';
const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });

async function nginx() {
  const dir = mkdtempSync(join(tmpdir(), 'desync-nginx-'));
  const port = await freePort();
  writeFileSync(join(dir, 'n.conf'), `daemon off; master_process off; pid ${dir}/n.pid; error_log ${dir}/e.log;
events {} http { access_log ${dir}/a.log; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
 server { listen 127.0.0.1:${port}; location /pub/early { client_max_body_size 1k; return 200 "early"; } location / { return 200 "ok $request_uri"; } } }`);
  const proc = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'n.conf')], { stdio: 'ignore' });
  const t = setTimeout(() => proc.kill('SIGKILL'), 120_000);
  await sleep(300);
  return { url: `http://127.0.0.1:${port}`, seen: () => readFileSync(join(dir, 'a.log'), 'latin1'), stop: () => { clearTimeout(t); proc.kill('SIGTERM'); } };
}

async function nodeHttp(insecureHTTPParser) {
  let log = '';
  const s = http.createServer({ insecureHTTPParser }, (q, r) => {
    log += `${q.method} ${q.url}\n`;
    if (q.url.startsWith('/pub/early')) { r.writeHead(413, { 'content-length': 5 }).end('early'); return; } // answers without reading
    q.resume(); q.on('end', () => r.end(`ok ${q.url}`));
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${s.address().port}`, seen: () => log, stop: () => s.close() };
}

const rows = [];
for (const [name, make] of [['nginx', nginx], ['node:http', () => nodeHttp(false)], ['node:http insecureHTTPParser', () => nodeHttp(true)]]) {
  const up = await make();
  const proxy = await startProxy(probeConfig(up.url));
  try {
    const shapes = {
      'GET body = request': `GET /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`,
      'OPTIONS body = request': `OPTIONS /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`,
      'POST answered early, body = request': `POST /pub/early HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUG.length}\r\n\r\n${SMUG}`,
      'POST chunked answered early, body = request': `POST /pub/early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${SMUG.length.toString(16)}\r\n${SMUG}\r\n0\r\n\r\n`,
    };
    for (const [shape, bytes] of Object.entries(shapes)) {
      const c = await rawClient(proxy.port);
      c.send(bytes);
      await until(() => /\r\n\r\n/.test(c.text), 2_000);
      await sleep(100);
      const v = await rawClient(proxy.port);
      v.send('GET /pub/victim HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => v.text.includes('victim') || v.closed, 2_000);
      rows.push({ upstream: name, shape, client: c.text.split('\r\n')[0], smuggledRan: up.seen().includes('SMUGGLED'), victim: v.text.includes('ok /pub/victim') ? 'its own' : v.text.slice(0, 40) });
      c.close(); v.close();
    }
  } finally {
    await proxy.stop();
    up.stop();
  }
}
console.table(rows);
