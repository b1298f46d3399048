// `serve --workers N` with `port: 0`: the primary picks the port its workers bind after it released it.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { portForWorkers } from '../../../cluster/process/index.js';
import { fetchBlocked } from '../../../cluster/process/worker-port.js';
import { createRequire } from 'node:module';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
const held: Server[] = [];
const hold = (port: number): Promise<number> => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(port, '127.0.0.1', () => { held.push(s); resolve((s.address() as { port: number }).port); });
});
afterAll(() => { for (const s of held) s.close(); });

describe('portForWorkers', () => {
  it('picks port 0 below the ephemeral range, where no outgoing connection or port-0 bind takes it before the workers bind', async () => {
    // a kernel-chosen port (the way before) lands in the ephemeral range, the one the next
    // outgoing connection on a busy host may be handed between the check and the workers' bind
    for (let i = 0; i < 20; i++) {
      const p = await portForWorkers('127.0.0.1', 0);
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(ephemeralLow);
      await hold(p); // and it was free: this bind succeeds
    }
  });

  it('refuses a port another process holds, naming it', async () => {
    const p = await hold(0);
    await expect(portForWorkers('127.0.0.1', p)).rejects.toThrow(`cannot listen on 127.0.0.1:${p}: another process holds the port`);
  });

  it('hands a configured free port back unchanged', async () => {
    const p = await portForWorkers('127.0.0.1', 0);
    expect(await portForWorkers('127.0.0.1', p)).toBe(p);
  });

  it('never picks a port fetch() refuses (the Fetch standard\'s bad ports, as undici lists them): a demo URL or a monitor port on 10080 fails with "bad port"', async () => {
    const { badPorts } = createRequire(import.meta.url)('undici/lib/web/fetch/constants.js') as { badPorts: string[] };
    const inRange = badPorts.map(Number).filter((p) => p >= 10_000 && p < ephemeralLow);
    expect(inRange.length).toBeGreaterThan(0); // 10080: the pick's range does hold one
    for (let p = 10_000; p < ephemeralLow; p++) expect(fetchBlocked(p), `port ${p}`).toBe(inRange.includes(p));
    await expect(fetch(`http://127.0.0.1:${inRange[0]}/`)).rejects.toThrow(); // what a pick of it did to a fetch
  });
});

