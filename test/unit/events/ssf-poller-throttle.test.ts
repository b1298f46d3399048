// The SSF poller's throttle (at most MAX_POLLS_PER_S back-to-back polls a second) against a real node:http
// transmitter that always has more: a wall clock stepped back mid-run does not stop the loop for the step.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventSourceConfig } from '../../../node/config/index.js';
import type { RevocationPublisher } from '../../../node/contracts/index.js';
import { SsfPoller } from '../../../node/events/ssf-poller.js';
import type { JwksActor } from '../../../node/jwt/index.js';
import { createLogger } from '../../../node/log.js';
import { waitFor } from '../../helpers/wait.js';

describe('SSF poller throttle', () => {
  let server: Server | null = null;
  let poller: SsfPoller | null = null;
  afterEach(async () => {
    poller?.stop();
    vi.restoreAllMocks();
    await new Promise((r) => (server === null ? r(null) : server.close(r)));
  });

  it('a wall clock stepped back an hour mid-flood keeps polling at the throttled pace, not an hour later (regression)', async () => {
    // a transmitter with moreAvailable and a new (unusable) SET id in every answer: the poller polls back to back, throttled
    let polls = 0;
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        polls++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sets: { [`set-${polls}`]: 1 }, moreAvailable: true }));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/poll`;
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - stepMs);
    const counts = new Map<string, number>();
    const publisher: RevocationPublisher = {
      publish: () => Promise.reject(new Error('no SET here verifies')), known: () => false, owns: () => true, converged: () => true, isolated: () => false,
    };
    const src = { poll: { endpoint, interval_ms: 60_000, max_events: 100, timeout_ms: 5_000 }, jwks: { timeout_ms: 1_000 } } as unknown as EventSourceConfig;
    poller = new SsfPoller('flood', src, {
      publisher, logger: createLogger({ level: 'silent', format: 'json' }), authorization: 'Bearer t', actor: null as unknown as JwksActor,
      count: (type, result) => counts.set(`${type}.${result}`, (counts.get(`${type}.${result}`) ?? 0) + 1),
    });
    poller.start();
    await waitFor('the throttle engaged', () => (counts.get('poll.throttled') ?? 0) > 0, 10_000);
    // an NTP step back of an hour: before, the next poll waited for the oldest recent start to be a second old — an hour
    stepMs = 3_600_000;
    const at = polls;
    await waitFor('polls going on after the step', () => polls >= at + 5, 10_000, { detail: () => `polls ${polls}, ${at} at the step` });
    expect(counts.get('poll.ok')).toBeGreaterThanOrEqual(at + 4);
  });
});
