// Public surface of cluster/protocol: subjects, message unions, the msgpackr codec and
// the typed bus over a transport, and the HMAC envelope that authenticates it over NATS.
export { REVOCATION_KINDS, isMemberIdToken, subjects, type RevocationKind, type Subjects } from './subjects.js';
export { subjectMatches } from '../transport/index.js';
export {
  MESSAGE_SPECS, isCutKind, parseRevocationRecord, parseWorkerChannel, revocationAdded, revocationVersion,
  type BusMessage, type BusMessageType, type MemberHeartbeat, type MemberHeartbeatV1, type MemberHeartbeatV2, type MemberHeartbeatV3, type MemberLeft, type MemberPolicyStatus, type MemberRole,
  type RevocationAdded, type RevocationRecord, type WorkerChannelMessage,
} from './messages.js';
export type { CacheEvicted, CacheFilled, CacheMessage, IntrospectionLease, IntrospectionLeased, IntrospectionReleased } from './cache-messages.js';
export type { DpopClaim, DpopClaimed, DpopMessage, DpopSeen } from './dpop-messages.js';
export type { MessageSpec } from './message-spec.js';
export { Codec, MAX_MESSAGE_BYTES, type CodecStats, type DropReason } from './codec.js';
export { MessageBus, type BusIncoming, type BusRejectReason, type MessageHandler, type OpenedMessage } from './message-bus.js';
export { BusAuth, busKeyId, ENVELOPE_OVERHEAD, ENVELOPE_V1, replySubject, type AuthRejectReason, type BusAuthOptions, type BusAuthStats, type Opened } from './bus-auth.js';
export { busAuthFrom, type BusKeySource } from './bus-keys.js';
