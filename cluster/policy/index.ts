// Public surface of cluster/policy: versioned cluster-wide policy in a JetStream KV bucket —
// the entry format, the store, pushing, the per-instance watcher and its admin routes.
export { decodeEntry, entrySubject, MAX_POLICY_BYTES, newEntry, openEntry, openEnvelope, sealEntry, type CheckedEntry, type EntryRefusal, type PolicyEntry } from './policy-messages.js';
export { noAnswerYet, policyBucket, PolicyConflict, PolicyStore, POLICY_KEY, type PolicyStoreOptions, type StoredValue } from './policy-store.js';
export { latestVersion, MAX_ENTRY_BYTES, pushPolicy, StalePolicyBase, type PushOptions } from './policy-push.js';
export { parseYaml, preparePolicy } from './policy-document.js';
export { checkVersion, checkVersionFor, checkVersionOffThread, INLINE_MAX_BYTES, TRANSFER_SLICE, validatePolicy, WARM_BUDGET_MS, WARM_ROUNDS, warmCheck, warmCheckEntry, type PolicyVerdict, type VersionCheck } from './policy-validate.js';
export { PolicyWatcher, type ApplyResult, type PolicyApplier, type PolicyWatcherOptions, type RefusalReason, type StatusCarrier } from './policy-watcher.js';
export { collectMemberStatus, type MemberPolicyRow } from './policy-status.js';
export { policyAdminRoutes } from './policy-admin.js';
export { combinedText, policyRoutes, reloadLocalPart, waitForPolicy, withLocalPartNow, withPolicyReadiness } from './policy-serve.js';
export { readClusterPolicyConfig } from './policy-local-config.js';
export { listenForPeers, peerWaitMs } from './policy-start-floor.js';
export { filePolicyRoutes, localPolicyRoutes, type LocalApply } from './policy-local.js';
