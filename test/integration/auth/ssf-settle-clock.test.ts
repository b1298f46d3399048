// SSF stream management under a wall clock stepped back right after start (NTP's step at boot,
// libfaketime on a real `serve`, no bus): the member waits its settle window (2.5 s) before it manages
// the stream; before, that window was read on the wall clock, so a step back of an hour inside it left
// the stream uncreated — no revocation event delivered — for the hour.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { MGMT_AUTH, startTransmitter, type Transmitter } from '../../helpers/ssf-transmitter.js';
import { steppedClock } from '../../helpers/stepped-clock.js';
import { waitFor } from '../../helpers/wait.js';

const AUD = 'https://proxy.example/ssf';
let as: AuthServer;
let echo: EchoUpstream;
let tx: Transmitter;
let proxy: ProxyProcess;

beforeAll(async () => {
  [as, echo, tx] = await Promise.all([startAuthServer(), startEchoUpstream(), startTransmitter(AUD)]);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), tx?.close()]);
});

describe('SSF stream management under a stepped wall clock', () => {
  it('stepped back an hour inside the settle window: the stream is still created within seconds', async () => {
    const clock = steppedClock();
    proxy = await startProxy(baseConfig(echo.url, {
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      event_sources: {
        idp: {
          issuer: tx.issuer, audiences: [AUD], push: { path: '/ssf/events', authorization_env: 'PT_SSF_PUSH' }, token_issuer: as.issuer,
          stream: { authorization_env: 'PT_SSF_MGMT', push_url: 'http://127.0.0.1:1/ssf/events', refresh_s: 1 },
        },
      },
      routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    }), { env: { ...ADMIN_ENV, ...clock.env, PT_SSF_PUSH: 'Bearer ssf-push-secret-0123456789', PT_SSF_MGMT: MGMT_AUTH } });
    clock.step(-3600); // listening: well inside the 2.5 s window that started when the stream source was built
    await waitFor('the stream created at the transmitter', () => tx.counters.creates >= 1, 20_000, { everyMs: 100, detail: () => proxy.output().slice(-1500) });
  }, 60_000);
});
