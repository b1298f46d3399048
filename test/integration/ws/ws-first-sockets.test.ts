// Regression for the pinned uWebSockets.js build dropping one of the first WebSockets of a
// fresh process a few ms after the 101 (no close frame, the client sees 1006): res.upgrade()
// inside res.cork() after an async step (uNetworking/uWebSockets #1928, fixed upstream in
// #1929 after the 20.30 build). Many short-lived proxy processes, first sockets right after start.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWsEchoUpstream, type WsEchoUpstream } from '../../../cluster/cli/demo/ws-echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { open, sleep, wsMetric, wsUrl } from './ws-fixtures.js';

/** Fresh processes, started two at a time; before the fix ~5 % of processes lost a socket. */
const PROCESSES = 40;
const SOCKETS_PER_PROCESS = 3;

// The two cases start processes of their own: the counting case runs beside the 40-process loop
// (describe.concurrent) instead of after it.
describe.concurrent('the first WebSockets of a fresh proxy process', () => {
  let up: WsEchoUpstream;

  beforeAll(async () => {
    up = await startWsEchoUpstream();
  });

  afterAll(async () => {
    await up?.close();
  });

  const config = (): Record<string, unknown> => baseConfig(up.url, {
    routes: [{ name: 'ws', match: { path: '/ws/*' }, upstream: 'app', auth: 'none', websocket: true }],
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 }, // no tokens here: one worker keeps each start-up short
  });

  /** One process: its first sockets, opened right after it listens, each used for two round trips; its stop is pushed to `stops`. */
  async function oneProcess(i: number, stops: Array<Promise<unknown>>): Promise<string[]> {
    const proxy = await startProxy(config(), { timeoutMs: 60_000 }); // start-up is slow on a loaded machine
    const problems: string[] = [];
    try {
      const clients = await Promise.all(Array.from({ length: SOCKETS_PER_PROCESS }, (_, k) => open(wsUrl(proxy, `/ws/p${i}s${k}`))));
      await Promise.all(clients.map(async (c, k) => {
        try {
          const first = await c.roundTrip(`first ${i}/${k}`);
          // the drop came 4–13 ms after the 101: use the socket again past that window
          await sleep(30);
          const second = await c.roundTrip(`second ${i}/${k}`);
          if (first.data.toString() !== `first ${i}/${k}` || second.data.toString() !== `second ${i}/${k}`) problems.push(`process ${i} socket ${k}: wrong echo`);
          c.ws.close(1000, 'done');
          const closed = await c.waitClosed();
          if (closed.code !== 1000) problems.push(`process ${i} socket ${k}: closed ${closed.code} instead of 1000`);
        } catch (err) {
          problems.push(`process ${i} socket ${k}: ${(err as Error).message}`);
        }
      }));
    } finally {
      stops.push(proxy.stop()); // awaited at the end: the next process starts while this one exits
    }
    return problems;
  }

  it(`no socket is dropped after its 101 (${PROCESSES} processes × ${SOCKETS_PER_PROCESS} first sockets)`, async () => {
    const problems: string[] = [];
    // two lanes, each starting its next process as soon as its last one is done with its sockets
    // (in pairs, the faster of each pair waited for the slower one and both stops)
    let next = 0;
    let failed = false; // a lane that failed (a start that timed out) stops the other: no process outlives the test
    const stops: Array<Promise<unknown>> = [];
    const lane = async (): Promise<void> => {
      try {
        while (next < PROCESSES && !failed) problems.push(...await oneProcess(next++, stops));
      } catch (err) {
        failed = true;
        throw err;
      }
    };
    const lanes = await Promise.allSettled([lane(), lane()]);
    await Promise.all(stops);
    for (const l of lanes) if (l.status === 'rejected') throw l.reason;
    expect(next).toBe(PROCESSES);
    expect(problems).toEqual([]);
  }, 600_000); // ~30–40 s on an idle 2-core machine; process start-up (×40) dominates under load

  it('a client connection lost without a close frame right after its 101 is counted', async () => {
    const proxy = await startProxy(config(), { env: ADMIN_ENV, timeoutMs: 60_000 });
    try {
      const c = await open(wsUrl(proxy, '/ws/lost'));
      // a TCP reset, no close frame: uWS reports 1006 to the proxy
      (c.ws as unknown as { _socket: ReturnType<typeof connect> })._socket.resetAndDestroy();
      const clean = await open(wsUrl(proxy, '/ws/clean'));
      clean.ws.close(1000);
      await clean.waitClosed();
      // the reset is counted when the proxy's loop reaches it: waited for, not given 100 polls (a loaded host stretches it)
      let early = Number.NaN;
      await waitFor('the lost connection counted', async () => (early = await wsMetric(proxy, 'closed_abnormal_early_total')) >= 1, 10_000);
      expect(early).toBe(1);
      expect(await wsMetric(proxy, 'closed_abnormal_total')).toBe(1);
      expect(await wsMetric(proxy, 'closed_by_client_total')).toBe(2);
    } finally {
      await proxy.stop();
    }
  });
});
