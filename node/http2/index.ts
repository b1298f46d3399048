// Public surface of node/http2: the node:http2 listener (h2c, h2 + HTTP/1.1 by ALPN) that drives
// the same pipeline as the uWS listener, its per-session flood guard and the gRPC status mapping.
export { H2Listener, type H2ListenerOptions } from './h2-listener.js';
export { SessionGuard, FLOOD_WINDOW_MS, type SessionCloseReason, type FloodCaps } from './session-guard.js';
export { grpcStatusOf, grpcMessage, isGrpc, GRPC } from './grpc-status.js';
