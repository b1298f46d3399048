// Public surface of cluster/membership: member ids and the heartbeat-driven live view.
export { configuredMemberId, newMemberId } from './member-id.js';
export { MAX_VIEW_MEMBERS, type MemberInfo } from './member-info.js';
export { Membership, type MembershipOptions } from './membership.js';
