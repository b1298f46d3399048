// Validating a policy version for this instance: its local part combined with the version's
// policy by the one schema, then the secrets it names checked in this instance's environment.
// Heavy for large policies (10 000 routes), so the watcher runs it in a worker thread.
import { Worker } from 'node:worker_threads';
import { checkEnvironment, combinePolicy, type Config, type ConfigProblem, type Environment } from '../../node/config/index.js';

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
 * `validatePolicy` in a worker thread (the event loop keeps serving). The environment checked is
 * this process's. A worker that fails to run answers `invalid` with the reason, never throws.
 */
export function validatePolicyOffThread(localRaw: unknown, policy: unknown, timeoutMs = 60_000): Promise<PolicyVerdict> {
  return new Promise((resolve) => {
    let done = false;
    const w = new Worker(workerUrl(), { workerData: { localRaw, policy } });
    const finish = (v: PolicyVerdict): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void w.terminate();
      resolve(v.ok ? { ok: true, config: deepFreeze(v.config) } : v);
    };
    const timer = setTimeout(() => finish({ ok: false, kind: 'invalid', errors: [{ path: '(policy)', message: `validation did not finish within ${timeoutMs} ms` }] }), timeoutMs);
    w.once('message', (v: PolicyVerdict) => finish(v));
    w.once('error', (err) => finish({ ok: false, kind: 'invalid', errors: [{ path: '(policy)', message: `validation failed: ${err.message}` }] }));
    w.once('exit', () => finish({ ok: false, kind: 'invalid', errors: [{ path: '(policy)', message: 'validation worker exited without an answer' }] }));
  });
}
