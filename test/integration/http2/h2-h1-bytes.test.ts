// An HTTP/2 client reading large bodies that an HTTP/1.1 upstream sends in chunked framing.
// The h1 client reads every upstream socket into one reused buffer; node:http2 queues what the
// client's flow-control window does not take yet by reference. Without a copy at that hand-over
// the queued bytes are overwritten by later reads (other streams' bytes, chunk-size lines):
// the client would receive a body of the right length with foreign bytes in it.
import { it, expect, beforeAll, afterAll } from 'vitest';
import type { ClientHttp2Session } from 'node:http2';
import { h2Request, startPublicH2, type PublicH2 } from '../../helpers/h2-client.js';

let h2: PublicH2;
let session: ClientHttp2Session;
const SIZE = 6 * 1024 * 1024;

beforeAll(async () => { h2 = await startPublicH2(); session = h2.session; });
afterAll(async () => { await h2?.stop(); });

it('four concurrent 6 MiB chunked downloads from an HTTP/1.1 upstream arrive byte-exact over HTTP/2', async () => {
  const replies = await Promise.all(Array.from({ length: 4 }, () => h2Request(session, { ':method': 'GET', ':path': `/public/chunked/${SIZE}` })));
  for (const r of replies) {
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(SIZE);
    // the upstream sends only 'x' (0x78): any other byte came from somewhere else
    let foreign = -1;
    for (let i = 0; i < r.body.length; i++) if (r.body[i] !== 0x78) { foreign = i; break; }
    expect(foreign, `first foreign byte at ${foreign}: ${JSON.stringify(r.body.subarray(foreign, foreign + 24).toString('latin1'))}`).toBe(-1);
  }
}, 60_000);
