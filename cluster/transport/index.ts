// Public surface of cluster/transport: the byte transport contract, its NATS, IPC and
// in-process implementations, and the direct revocation push's framing, listener and sender.
export { busError, type BusError, type Incoming, type IncomingHandler, type Transport, type TransportKind, type TransportLogger, type TransportStatus } from './transport.js';
export { subjectMatches } from './subject-match.js';
export { jetStreamMissing, jsErrorText, noAnswerYet, noJetStream, noJetStreamMessage, noResponders, StreamNoLeader } from './no-answer.js';
export { LocalTransport } from './local-transport.js';
export { IpcWorkerTransport } from './ipc-worker-transport.js';
export { toPrimary } from './primary-send.js';
export { IpcHubTransport } from './ipc-hub-transport.js';
export { NatsTransport, type NatsTransportOptions } from './nats-transport.js';
export { nats } from './nats-module.js';
export { MEMBER_LIVENESS, natsConnectionOptions, shownServers, type NatsConfig } from './nats-options.js';
export { DIRECT_CHALLENGE_SUBJECT, DIRECT_NONCE_BYTES, DirectFrameReader, encodeDirectFrame, MAX_DIRECT_FRAME_BYTES, type DirectFrame, type DirectFrameError } from './direct-frame.js';
export { DirectListener, type DirectHandshake, type DirectListenerOptions, type DirectListenerStats, type DirectVerdict } from './direct-listener.js';
export { DIRECT_MAX_BUFFERED_BYTES, DIRECT_MAX_QUEUED_AGE_MS, DIRECT_MAX_QUEUED_FRAMES, DirectSender, parseHostPort, type DirectSenderStats } from './direct-sender.js';
