// Micro-measure (not a test): `clientAddress(res)` (node/http/client-address.ts) of two builds, each in its own child
// process, alternating, inside a real uWS request's handler (IPv4 listener and client, and a `::` listener with an
// IPv6 client). Build first, then `taskset -c 1 node bench/micro/client-address.bench.mjs BASE_ROOT [ROOT]` (FAMILY=6 for IPv6).
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pairedBuilds } from './paired-builds.mjs';

const N = Number(process.env.N ?? 300_000);
const V6 = process.env.FAMILY === '6';
if (process.env.CLIENT_ADDRESS_CHILD === '1') {
  const root = process.argv[2];
  const { default: uWS } = await import('uWebSockets.js');
  const { clientAddress } = await import(pathToFileURL(`${root}/dist/node/http/client-address.js`).href);
  let sink = 0;
  const app = uWS.App().any('/*', (res) => {
    for (let i = 0; i < 50_000; i++) sink += clientAddress(res).length;
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) sink += clientAddress(res).length;
    const c = process.cpuUsage(c0);
    process.stdout.write(JSON.stringify({ usPerReq: (c.user + c.system) / N, address: clientAddress(res), sink }));
    res.close();
    process.exit(0);
  });
  app.listen(V6 ? '::' : '127.0.0.1', 0, (s) => {
    const c = net.connect(uWS.us_socket_local_port(s), V6 ? '::1' : '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    c.on('error', () => {});
  });
} else {
  const base = process.argv[2];
  const here = process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url));
  if (base === undefined) throw new Error('usage: node bench/micro/client-address.bench.mjs BASE_ROOT [ROOT]');
  pairedBuilds({ script: fileURLToPath(import.meta.url), childEnv: 'CLIENT_ADDRESS_CHILD', base, here, n: N, label: V6 ? 'IPv6 client, :: listener' : 'IPv4' });
}
