// Outside-in probes of the HTTP/2 listener that found holes: header names with `_` (CGI, WSGI,
// Rack and PHP read `X_Auth_Subject` as `X-Auth-Subject`, so a stripped identity header could be
// smuggled under its underscore spelling), and overlong UTF-8 escapes of `.` and `/` in the path
// (both listeners).
import { it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { h2Request, startPublicH2, type PublicH2 } from '../../helpers/h2-client.js';

let h2: PublicH2;
let echo: PublicH2['echo'];
let proxy: PublicH2['proxy'];
let session: ClientHttp2Session;

beforeAll(async () => { h2 = await startPublicH2(); ({ echo, proxy, session } = h2); });
afterAll(async () => { await h2?.stop(); });

it('refuses a header name with an underscore (400) and forwards nothing, as the HTTP/1.1 listener refuses it', async () => {
  const ok = await h2Request(session, { ':method': 'GET', ':path': '/public/a', 'x-probe': '1' });
  expect(ok.status).toBe(200);
  const before = echo.requests;
  for (const name of ['x_auth_subject', 'x_forwarded_for', 'x_real_ip', 'x_custom']) {
    const r = await h2Request(session, { ':method': 'GET', ':path': '/public/a', [name]: 'evil' });
    expect(r.status, name).toBe(400);
    expect(r.json?.code, name).toBe('PORTCULLIS_ERR_REQUEST_MALFORMED');
    expect(String(r.json?.message), name).toContain(name);
  }
  expect(echo.requests).toBe(before);
});

it('refuses overlong UTF-8 escapes of "." and "/" in the path (400), which lenient decoders read as ../', async () => {
  const before = echo.requests;
  for (const p of ['/public/%c0%ae%c0%ae/admin', '/public/%C0%AF..%C0%AFadmin', '/public/%e0%80%ae%e0%80%ae/x', '/public/%f0%80%80%ae/x', '/public/%c1%9c']) {
    const r = await h2Request(session, { ':method': 'GET', ':path': p });
    expect(r.status, p).toBe(400);
    expect(r.json?.code, p).toBe('PORTCULLIS_ERR_PATH_AMBIGUOUS');
    const h1 = await fetch(proxy.url + p); // the uWS listener reads paths with the same normaliser
    expect(h1.status, `HTTP/1.1 ${p}`).toBe(400);
  }
  expect(echo.requests).toBe(before);
  // well-formed UTF-8 and Latin-1 bytes that are not overlong lead bytes still pass
  for (const p of ['/public/caf%C3%A9', '/public/%E2%82%AC', '/public/%E9t%E9']) {
    const r = await h2Request(session, { ':method': 'GET', ':path': p });
    expect(r.status, p).toBe(200);
  }
});
