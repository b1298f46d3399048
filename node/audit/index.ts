// Public surface of node/audit: the audit trail of administrative actions.
export { AuditLog, type AuditActor, type AuditRecord, type AuditSettings } from './audit-log.js';
export { adminActor, adminDetail, appliedPolicyRecord, appliedRevocationRecord, auditedAction, fingerprint, outcomeOf, reloadRecord, type AppliedPolicyVersion, type AppliedRevocation } from './admin-audit.js';
