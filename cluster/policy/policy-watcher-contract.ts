// The contract of the policy watcher with the process that runs it: how a checked version is
// applied (ApplyResult, PolicyApplier), its options, and the member whose heartbeat carries its status.
import type { Config, ConfigProblem } from '../../node/config/index.js';
import type { Logger } from '../../node/log.js';
import type { MemberPolicyStatus } from '../protocol/index.js';
import type { CheckedEntry } from './policy-messages.js';
import type { VersionCheck } from './policy-validate.js';

/** What applying a validated config did: committed (with where its time went, ms, when the applier measured it), or refused with every problem. */
export type ApplyResult = { readonly ok: true; readonly timings?: Readonly<Record<string, number>> } | { readonly ok: false; readonly errors: readonly ConfigProblem[] };
/**
 * Applies a config built from a version (ProxyInstance.reload, or the supervisor across workers).
 * `checkedWith`: the file's local part `config` was checked with; a file reload that committed since
 * replaced PolicyWatcher.localRaw, and the version is then applied with the reloaded local part.
 */
export type PolicyApplier = (config: Config, entry: CheckedEntry, checkedWith: unknown) => Promise<ApplyResult>;

/** Why a version was not applied, for `policy.refusals.<reason>`. */
export type RefusalReason = 'invalid' | 'environment' | 'apply';

/** What a PolicyWatcher is built from: the config file (local part), its logger, and optionally its member id and version check. */
export interface PolicyWatcherOptions {
  /** The config file as loaded: its cluster section is read, its local part is combined with every version. */
  readonly config: Config;
  /** The config file's raw document at start (policy keys in it are ignored); a committed file reload replaces it (PolicyWatcher.localRaw). */
  readonly localRaw: unknown;
  readonly logger: Logger;
  /** Name in status reports (default `cluster.member_id` or host-pid). */
  readonly memberId?: string;
  /** Decoding and validation of an authentic entry's payload (default: checkVersionFor — here when small, else in a worker thread; this process's environment). */
  readonly check?: (localRaw: unknown, payload: Uint8Array) => Promise<VersionCheck>;
}

/** The cluster member whose heartbeat carries this watcher's status (cluster/membership Membership). */
export interface StatusCarrier {
  readonly id: string;
  setPolicyStatus(status: () => MemberPolicyStatus): void;
  beatNow(): void;
}

