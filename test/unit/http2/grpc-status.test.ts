// The gRPC answer of each proxy error status, gRPC content-type recognition and grpc-message
// percent-encoding (what a gRPC client decodes back).
import { describe, it, expect } from 'vitest';
import { GRPC, grpcMessage, grpcStatusOf, isGrpc } from '../../../node/http2/index.js';

describe('grpcStatusOf', () => {
  it('maps the proxy\'s HTTP answers to the gRPC codes clients act on', () => {
    expect([400, 401, 403, 404, 408, 413, 414, 431, 429, 502, 503, 504, 500].map(grpcStatusOf)).toEqual([
      GRPC.INVALID_ARGUMENT, GRPC.UNAUTHENTICATED, GRPC.PERMISSION_DENIED, GRPC.UNIMPLEMENTED, GRPC.DEADLINE_EXCEEDED,
      GRPC.RESOURCE_EXHAUSTED, GRPC.RESOURCE_EXHAUSTED, GRPC.RESOURCE_EXHAUSTED, GRPC.UNAVAILABLE, GRPC.UNAVAILABLE, GRPC.UNAVAILABLE,
      GRPC.DEADLINE_EXCEEDED, GRPC.INTERNAL,
    ]);
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
