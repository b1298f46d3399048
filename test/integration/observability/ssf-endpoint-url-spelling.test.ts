// A transmitter may hand back the configured poll URL spelled its own way (query parameters in
// another order, scheme and host in capitals, default port written out): that is the configured
// endpoint, so the stream it already holds is adopted and reported healthy, not "not poll.endpoint".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { MGMT_AUTH, POLL_AUTH, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { waitFor } from '../../helpers/wait.js';

const AUD = 'https://proxy.example/ssf';
const POLL_KEY = 'poll-url-key-5ecret-91ab3e';

let tx: Transmitter;
let proxy: ProxyProcess;

beforeAll(async () => {
  tx = await startTransmitter(AUD);
  const shouted = tx.pollUrl.replace(/^http:\/\/([^/]+)/, (_, host: string) => `HTTP://${host.toUpperCase()}`);
  tx.streams.set('s-1', {
    stream_id: 's-1', iss: tx.issuer, aud: AUD, delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: `${shouted}?tenant=7&key=${POLL_KEY}` },
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

describe('a transmitter poll URL that is poll.endpoint spelled another way', () => {
  it('adopts the stream: /readyz shows it enabled with no error, and no management failure is logged', async () => {
    const stream = async (): Promise<Record<string, unknown> | undefined> => {
      const r = await request(`${proxy.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return ((await r.body.json()) as { event_streams?: Record<string, Record<string, unknown>> }).event_streams?.idp;
    };
    let seen: Record<string, unknown> | undefined;
    await waitFor('the stream read and its status reported', async () => {
      seen = await stream();
      return seen?.status === 'enabled' || (seen?.error ?? null) !== null;
    }, 15_000, { detail: () => `${JSON.stringify(seen)}\n${proxy.output()}` });
    expect(seen).toMatchObject({ stream_id: 's-1', status: 'enabled', error: null });
    expect(proxy.logs().find((l) => l.msg === 'SSF stream management failed; retrying')).toBeUndefined();
    expect(tx.streams.size).toBe(1);
    expect(proxy.output()).not.toContain(POLL_KEY);
  });
});
