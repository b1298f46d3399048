// A closed HTTP/2 connection leaves nothing behind in the proxy: Node 20 left each session's idle
// timer (server.http2.idle_timeout_ms, 2 min) armed after the session was destroyed, so every
// connection a client opened and closed stayed in the heap for two minutes (~3.5 KB each: a client
// opening fresh connections grew the process by its connection rate × 120 s). Counted in a heap
// snapshot of the proxy (the snapshot collects garbage first): only live objects are in it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { h2Fetch, http2PortOf } from '../../helpers/h2-client.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const CONNECTIONS = 300;
let echo: EchoUpstream;
let proxy: ProxyProcess;
const snapshots = tempDir('portcullis-h2-heap-');

beforeAll(async () => {
  echo = await startEchoUpstream();
  proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    log: { level: 'info', access: false },
  }), { env: ADMIN_ENV, nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

/** Objects named `name` in a V8 heap snapshot file. */
function countObjects(file: string, name: string): number {
  const s = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = s.snapshot.meta.node_fields;
  const nf = fields.length, iType = fields.indexOf('type'), iName = fields.indexOf('name');
  const objectType = s.snapshot.meta.node_types[0].indexOf('object');
  const nameIndex = s.strings.indexOf(name);
  let n = 0;
  for (let i = 0; i < s.nodes.length; i += nf) if (s.nodes[i + iName] === nameIndex && s.nodes[i + iType] === objectType) n++;
  return n;
}

describe('HTTP/2 connections a client opened and closed', () => {
  it('are gone from the heap at once, not after idle_timeout_ms', async () => {
    const origin = `http://127.0.0.1:${http2PortOf(proxy.logs())}`;
    for (let i = 0; i < CONNECTIONS; i++) {
      // one request per connection, the connection closed by the client after it
      expect((await h2Fetch(origin, { ':method': 'GET', ':path': `/c/${i}` })).status).toBe(200);
    }
    const openMetric = async (): Promise<number> => {
      const r = await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_ENV.PORTCULLIS_TEST_ADMIN_TOKEN}` } });
      return Number(/^portcullis_http2_sessions_open (\d+)/m.exec(await r.text())?.[1]);
    };
    await waitFor('every session closed', async () => (await openMetric()) === 0, 10_000);
    proxy.proc.kill('SIGUSR2');
    let file = '';
    await waitFor('the heap snapshot written', () => {
      const f = readdirSync(snapshots).find((x) => x.endsWith('.heapsnapshot'));
      if (f === undefined) return false;
      // written when its last byte is: the snapshot ends with the closing brace of its JSON
      const text = readFileSync(join(snapshots, f), 'utf8');
      if (!text.trimEnd().endsWith('}')) return false;
      file = join(snapshots, f);
      return true;
    }, 30_000);
    // before: every one of the 300 sessions was still reachable (through its idle timer)
    expect(countObjects(file, 'ServerHttp2Session')).toBeLessThan(CONNECTIONS / 10);
  }, 120_000);
});
