// What an HTTP/2 upstream's own failures (node/errors.ts UPSTREAM_ERRORS H2_*) mean on the HTTP/2
// listener: the upstream_errors_total kind, the access-log reason and the client's answer. Every
// other code keeps node/http/upstream-failure.ts's reading (the HTTP/1.1 words mean the same there).
import { proxyError } from '../errors.js';
import { beforeHeadFailure, midBodyFailure, type UpstreamFailure } from '../http/upstream-failure.js';
import type { H1Error } from '../upstream/h1-client.js';

function h2Failure(err: H1Error, upstream: string): UpstreamFailure | null {
  const rst = (err as { rstCode?: number }).rstCode;
  switch (err.code) {
    case 'H2_STREAM_RESET':
      return { metric: 'h2_stream_reset', reason: 'upstream_h2_stream_reset', error: proxyError('PORTCULLIS_ERR_H2_UPSTREAM_RESET', `upstream "${upstream}" reset the HTTP/2 stream (error code ${rst ?? '?'})`) };
    case 'H2_REFUSED_STREAM':
      return { metric: 'h2_refused_stream', reason: 'upstream_h2_refused_stream', error: proxyError('PORTCULLIS_ERR_H2_UPSTREAM_RESET', `upstream "${upstream}" refused the HTTP/2 stream`, { retryAfter: 1 }) };
    case 'H2_SESSION_CLOSED':
      return { metric: 'h2_session_closed', reason: 'upstream_h2_session_closed', error: proxyError('PORTCULLIS_ERR_H2_UPSTREAM_RESET', `upstream "${upstream}" ended the HTTP/2 session before the response`) };
    default:
      return null;
  }
}

/** Before any response head (see node/http/upstream-failure.ts beforeHeadFailure). */
export function h2BeforeHeadFailure(err: H1Error, upstream: string, connect: boolean, idleBodyMs = 0): UpstreamFailure {
  return (connect ? null : h2Failure(err, upstream)) ?? beforeHeadFailure(err, upstream, connect, idleBodyMs);
}

/** After the response head (see midBodyFailure). */
export function h2MidBodyFailure(err: H1Error, upstream: string, idleBodyMs: number): UpstreamFailure {
  return h2Failure(err, upstream) ?? midBodyFailure(err, upstream, idleBodyMs);
}
