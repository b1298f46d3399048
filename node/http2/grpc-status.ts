// How a gRPC client hears the proxy's own answers: the HTTP status of an error mapped to a gRPC
// status code (the gRPC "HTTP to gRPC status code mapping" plus the auth codes), and grpc-message
// percent-encoding. Used for requests with `content-type: application/grpc…`.

/** gRPC status codes the proxy answers with (grpc/doc/statuscodes.md). */
export const GRPC = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;

/** The gRPC status for an HTTP status the proxy would have answered a plain HTTP client with. */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return GRPC.INVALID_ARGUMENT;
    case 401: return GRPC.UNAUTHENTICATED;
    case 403: return GRPC.PERMISSION_DENIED;
    case 421: return GRPC.PERMISSION_DENIED; // a client_cert route on a listener that cannot see certificates
    case 404: return GRPC.UNIMPLEMENTED; // no route: the method does not exist behind this proxy
    case 405: return GRPC.UNIMPLEMENTED; // other_methods: refuse — the path's route takes no POST
    case 408: return GRPC.DEADLINE_EXCEEDED;
    case 413: case 414: case 431: return GRPC.RESOURCE_EXHAUSTED;
    case 429: case 502: case 503: return GRPC.UNAVAILABLE;
    case 504: return GRPC.DEADLINE_EXCEEDED;
    default: return httpStatus >= 500 ? GRPC.INTERNAL : GRPC.UNKNOWN;
  }
}

/** True for a gRPC request: `content-type: application/grpc` or `application/grpc+proto` etc. */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc') &&
    (contentType.length === 16 || contentType[16] === '+' || contentType[16] === ';');
}

/** grpc-message value: percent-encoded outside printable ASCII and '%' (gRPC PROTOCOL-HTTP2.md). */
export function grpcMessage(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
