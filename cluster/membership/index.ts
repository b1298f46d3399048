// Public surface of cluster/membership: member ids and the heartbeat-driven live view.
export { configuredMemberId, newMemberId } from './member-id.js';
export { Membership, type MemberInfo, type MembershipOptions } from './membership.js';
