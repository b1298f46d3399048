// Checking a policy version for this instance: the entry decoded from its authentic envelope
// (gunzip, parse, digest), its local part combined with the version's policy by the one
// schema, then the secrets it names checked in this instance's environment. Heavy for large
// policies (10 000 routes), so the watcher runs it in a worker thread.
import { Worker } from 'node:worker_threads';
import { checkEnvironment, combinePolicy, type Config, type ConfigProblem, type Environment } from '../../node/config/index.js';
import { decodeEntry, type CheckedEntry, type EntryRefusal, type PolicyEntry } from './policy-messages.js';

/** `invalid`: the policy is wrong anywhere; `environment`: valid, but this instance lacks a secret or file it names. */
export type PolicyVerdict =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly kind: 'invalid' | 'environment'; readonly errors: ConfigProblem[] };

/** The check itself, on the calling thread. */
export function validatePolicy(localRaw: unknown, policy: unknown, env: Environment): PolicyVerdict {
  const r = combinePolicy(localRaw, policy, { env: null });
  if (!r.ok) return { ok: false, kind: 'invalid', errors: r.errors };
  const envErrors = checkEnvironment(r.config, env);
  if (envErrors.length > 0) return { ok: false, kind: 'environment', errors: envErrors };
  return { ok: true, config: r.config };
}

/** A version checked: not an entry at all (ignored and counted), or an entry and its verdict here. */
export type VersionCheck =
  | { readonly kind: 'ignored'; readonly reason: EntryRefusal }
  | { readonly kind: 'entry'; readonly entry: CheckedEntry; readonly verdict: PolicyVerdict };

/** Decode the payload of an authentic envelope and validate its policy here. */
export function checkVersion(localRaw: unknown, payload: Uint8Array, env: Environment): VersionCheck {
  const d = decodeEntry(payload);
  if (!d.ok) return { kind: 'ignored', reason: d.reason };
  const { policy, ...head } = d.entry;
  return { kind: 'entry', entry: { ...head, policyJson: JSON.stringify(policy) }, verdict: validatePolicy(localRaw, policy, env) };
}

function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/cluster/policy/policy-validate.worker.js', here) : new URL('./policy-validate.worker.js', here);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/**
 * `checkVersion` in a worker thread (the event loop keeps serving). The environment checked is
 * this process's. A worker that fails to run answers `invalid` with the reason, never throws.
 */
export function checkVersionOffThread(localRaw: unknown, payload: Uint8Array, timeoutMs = 60_000): Promise<VersionCheck> {
  return new Promise((resolve) => {
    let done = false;
    const w = new Worker(workerUrl(), { workerData: { localRaw, payload } });
    const fail = (message: string): VersionCheck => {
      const d = decodeEntryHead(payload);
      return d === null ? { kind: 'ignored', reason: 'corrupt' } : { kind: 'entry', entry: { ...d, policyJson: '{}' }, verdict: { ok: false, kind: 'invalid', errors: [{ path: '(policy)', message }] } };
    };
    const finish = (v: VersionCheck): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void w.terminate();
      resolve(v.kind === 'entry' && v.verdict.ok ? { ...v, verdict: { ok: true, config: deepFreeze(v.verdict.config) } } : v);
    };
    const timer = setTimeout(() => finish(fail(`validation did not finish within ${timeoutMs} ms`)), timeoutMs);
    w.once('message', (v: VersionCheck) => finish(v));
    w.once('error', (err) => finish(fail(`validation failed: ${err.message}`)));
    w.once('exit', () => finish(fail('validation worker exited without an answer')));
  });
}

/** The entry on this thread, only to report a worker failure against its version (rare). */
function decodeEntryHead(payload: Uint8Array): Omit<PolicyEntry, 'policy'> | null {
  const d = decodeEntry(payload);
  if (!d.ok) return null;
  const { policy: _policy, ...head } = d.entry;
  return head;
}
