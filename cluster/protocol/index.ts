// Public surface of cluster/protocol: subjects, message unions, the msgpackr codec and
// the typed bus over a transport.
export { REVOCATION_KINDS, subjects, subjectMatches, type RevocationKind, type Subjects } from './subjects.js';
export {
  MESSAGE_SPECS, parseRevocationRecord,
  type BusMessage, type BusMessageType, type MemberHeartbeat, type MemberLeft, type MemberRole, type PolicyUpdated,
  type RevocationAdded, type RevocationRecord, type RevocationSnapshot, type RevocationSync,
} from './messages.js';
export type { CacheEvicted, CacheFilled, CacheMessage, IntrospectionLease, IntrospectionLeased, IntrospectionReleased } from './cache-messages.js';
export type { DpopClaim, DpopClaimed, DpopMessage, DpopSeen } from './dpop-messages.js';
export type { MessageSpec } from './message-spec.js';
export { Codec, MAX_MESSAGE_BYTES, type CodecStats, type DropReason } from './codec.js';
export { MessageBus, type MessageHandler } from './message-bus.js';
