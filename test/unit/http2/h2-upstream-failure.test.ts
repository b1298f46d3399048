// HTTP/2 upstream failures read with their own words on the HTTP/2 listener: each H2_* code's
// answer, access-log reason and upstream_errors_total kind, before and after the response head;
// every other code (and a connect failure) keeps the HTTP/1.1 reading.
import { describe, it, expect } from 'vitest';
import { h1Error } from '../../../node/upstream/h1-client.js';
import { h2BeforeHeadFailure, h2MidBodyFailure } from '../../../node/http2/h2-upstream-failure.js';
import { beforeHeadFailure } from '../../../node/http/upstream-failure.js';

const h2 = (code: string, rst: number) => Object.assign(h1Error(code, 'x', true), { rstCode: rst });

describe('h2 upstream failures', () => {
  it.each([
    ['H2_STREAM_RESET', 2, 'h2_stream_reset', 'upstream_h2_stream_reset', /reset the HTTP\/2 stream \(error code 2\)/],
    ['H2_REFUSED_STREAM', 7, 'h2_refused_stream', 'upstream_h2_refused_stream', /refused the HTTP\/2 stream/],
    ['H2_SESSION_CLOSED', 0, 'h2_session_closed', 'upstream_h2_session_closed', /ended the HTTP\/2 session/],
  ])('%s → 502 PORTCULLIS_ERR_H2_UPSTREAM_RESET, kind %s, reason %s (before and after the head)', (code, rst, kind, reason, msg) => {
    for (const f of [h2BeforeHeadFailure(h2(code, rst), 'app', false), h2MidBodyFailure(h2(code, rst), 'app', 30_000)]) {
      expect(f.metric).toBe(kind);
      expect(f.reason).toBe(reason);
      expect(f.error.code).toBe('PORTCULLIS_ERR_H2_UPSTREAM_RESET');
      expect(f.error.message).toMatch(msg);
    }
  });

  it('other codes and connect failures keep the HTTP/1.1 reading', () => {
    const timeout = h1Error('H1_HEADERS_TIMEOUT', 'x', true);
    expect(h2BeforeHeadFailure(timeout, 'app', false)).toEqual(beforeHeadFailure(timeout, 'app', false));
    const refused = h1Error('ECONNREFUSED', 'x', false);
    expect(h2BeforeHeadFailure(refused, 'app', true)).toEqual(beforeHeadFailure(refused, 'app', true));
    expect(h2MidBodyFailure(h1Error('H1_BODY_TIMEOUT', 'x', true), 'app', 5).reason).toBe('upstream_body_timeout');
  });
});
