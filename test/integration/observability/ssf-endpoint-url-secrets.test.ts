// A transmitter's stream configuration names the poll URL it delivers at (SSF `delivery.endpoint_url`);
// when it is not the configured `poll.endpoint`, stream management fails and says so in its log line
// and the /readyz stream view. That URL may carry the poll key in its query (here: the configured key
// with another tenant): the proxy names it by scheme, host and path only. The same URL spelled another
// way (parameters reordered, scheme in capitals) is the configured one: the stream is adopted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { MGMT_AUTH, POLL_AUTH, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { waitFor } from '../../helpers/wait.js';

const AUD = 'https://proxy.example/ssf';
const POLL_KEY = 'poll-url-key-5ecret-7d1f0c';

let tx: Transmitter;
let proxy: ProxyProcess;

beforeAll(async () => {
  tx = await startTransmitter(AUD);
  // the stream the transmitter already holds for this receiver: its poll URL carries the key, for another tenant
  tx.streams.set('s-1', {
    stream_id: 's-1', iss: tx.issuer, aud: AUD, delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: `${tx.pollUrl}?tenant=8&key=${POLL_KEY}` },
    events_supported: [], events_requested: [], events_delivered: [], status: 'enabled',
  });
  proxy = await startProxy(baseConfig(tx.issuer, {
    event_sources: {
      idp: {
        issuer: tx.issuer, audiences: [AUD],
        poll: { endpoint: `${tx.pollUrl}?key=${POLL_KEY}&tenant=7`, authorization_env: 'PT_SSF_POLL', interval_ms: 1_000 },
        stream: { authorization_env: 'PT_SSF_MGMT', refresh_s: 1, verify: false },
      },
    },
    log: { level: 'debug', access: false },
  }), { env: { ...ADMIN_ENV, PT_SSF_POLL: POLL_AUTH, PT_SSF_MGMT: MGMT_AUTH } });
});

afterAll(async () => {
  await proxy?.stop();
  await tx?.close();
});

describe('a transmitter poll URL that is not poll.endpoint', () => {
  it('is named by scheme, host and path in the log line and /readyz, never with its query', async () => {
    const failed = (): Record<string, unknown> | undefined => proxy.logs().find((l) => l.msg === 'SSF stream management failed; retrying');
    await waitFor('the management failure line', () => failed() !== undefined, 15_000, { detail: () => proxy.output() });
    expect(String(failed()!.err)).toContain(`endpoint_url (${tx.pollUrl}`);
    const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = await r.body.text();
    expect(body).toContain(`endpoint_url (${tx.pollUrl}`);
    expect(body).not.toContain(POLL_KEY);
    expect(proxy.output()).not.toContain(POLL_KEY);
  });
});
