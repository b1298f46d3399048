// The gRPC answer of each proxy error status, gRPC content-type recognition and grpc-message
// percent-encoding (what a gRPC client decodes back), and the Allow an ext_authz denial carries.
import { describe, it, expect } from 'vitest';
import { GRPC, grpcMessage, grpcStatusOf, isGrpc } from '../../../node/http2/index.js';
import { deniedResponse } from '../../../node/http2/ext-authz-sink.js';
import { proxyError } from '../../../node/errors.js';

describe('grpcStatusOf', () => {
  it('maps the proxy\'s HTTP answers to the gRPC codes clients act on', () => {
    expect([400, 401, 403, 404, 408, 413, 414, 431, 429, 502, 503, 504, 500].map(grpcStatusOf)).toEqual([
      GRPC.INVALID_ARGUMENT, GRPC.UNAUTHENTICATED, GRPC.PERMISSION_DENIED, GRPC.UNIMPLEMENTED, GRPC.DEADLINE_EXCEEDED,
      GRPC.RESOURCE_EXHAUSTED, GRPC.RESOURCE_EXHAUSTED, GRPC.RESOURCE_EXHAUSTED, GRPC.UNAVAILABLE, GRPC.UNAVAILABLE, GRPC.UNAVAILABLE,
      GRPC.DEADLINE_EXCEEDED, GRPC.INTERNAL,
    ]);
    // other_methods: refuse (405): the path's route takes no POST — the method is not exposed, as with no route
    expect(grpcStatusOf(405)).toBe(GRPC.UNIMPLEMENTED);
    expect([GRPC.UNAUTHENTICATED, GRPC.PERMISSION_DENIED, GRPC.UNAVAILABLE, GRPC.DEADLINE_EXCEEDED, GRPC.INVALID_ARGUMENT]).toEqual([16, 7, 14, 4, 3]);
  });
});

describe('isGrpc', () => {
  it('is application/grpc with an optional +format or parameters, nothing else', () => {
    for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8']) expect(isGrpc(ct), ct).toBe(true);
    for (const ct of [undefined, 'application/json', 'application/grpc-web', 'application/grpcx', 'text/application/grpc']) expect(isGrpc(ct), String(ct)).toBe(false);
  });
});

describe('grpcMessage', () => {
  it('percent-encodes %, controls and non-ASCII (UTF-8 bytes); decodeURIComponent gives the text back', () => {
    const s = 'token "expired" — 100% sure\n';
    const m = grpcMessage(s);
    expect(m).toMatch(/^[\x20-\x7e]*$/);
    expect(m).toContain('%25');
    expect(decodeURIComponent(m)).toBe(s);
  });
});

describe('ext_authz denied_response', () => {
  it('a 405 of other_methods: refuse carries Allow to the edge, as proxy mode answers it', () => {
    const r = deniedResponse(proxyError('PORTCULLIS_ERR_ROUTE_METHOD_NOT_ALLOWED', 'DELETE is not allowed on /api/admin/x', { allow: 'GET, HEAD, POST' }), 'portcullis');
    expect(r).toMatchObject({ kind: 'denied', httpStatus: 405 });
    if (r.kind !== 'denied') throw new Error(`not denied: ${r.kind}`);
    const headers = r.headers;
    expect(headers[headers.indexOf('allow') + 1]).toBe('GET, HEAD, POST');
  });
});
