// A reload across node:cluster workers is all or nothing: the primary sends the config text
// it validated to every worker to prepare, and sends commit only when every worker prepared
// it, else discard. Workers boot with the primary's committed text and version, so a worker
// restarted after a reload runs the same config as the others.
import type { Worker } from 'node:cluster';
import type { ConfigProblem } from '../../node/config/index.js';
import type { PolicyVersion } from '../../node/contracts/index.js';
import { toPrimary } from '../transport/index.js';

/** Primary → worker. */
export type ReloadMessage =
  /** Answer to worker.config_request: the committed config a (re)starting worker runs. */
  /** `policy`: the cluster policy version the text carries (null: single-file), named in access logs and X-Portcullis-Policy. */
  /** `hold`: auth routes wait for the cluster policy now (the primary's PolicyWatcher.catchingUp; later changes come as policy.hold). */
  /** `start`: the text the primary started with (its fields read at start only stay in force: config/restart-only.ts). */
  | { type: 'config.boot'; text: string; start?: string; version: number; policy: PolicyVersion | null; hold?: boolean }
  | { type: 'config.prepare'; id: number; text: string; version: number; policy: PolicyVersion | null }
  | { type: 'config.commit'; id: number }
  | { type: 'config.discard'; id: number };

/** Worker → primary. */
export type ReloadReply =
  | { type: 'worker.config_request' }
  | { type: 'worker.prepared'; id: number; ok: true }
  | { type: 'worker.prepared'; id: number; ok: false; errors: ConfigProblem[] }
  | { type: 'worker.committed'; id: number; version: number };

/** How long the primary waits for each worker's answer to prepare (and to commit), ms. */
export const RELOAD_ANSWER_TIMEOUT_MS = 5_000;

export type ReloadOutcome =
  /** Every worker prepared; commit was sent. `acked`: workers that confirmed within the timeout. */
  | { kind: 'committed'; acked: number }
  /** At least one worker refused the config: discard was sent to every worker. */
  | { kind: 'refused'; refused: number; errors: ConfigProblem[] }
  /** No refusal, but some worker did not answer (stopped, dying): discard was sent to every worker. */
  | { kind: 'unanswered'; unanswered: number };

/** Send `message` to `w` and wait for the first reply `match` accepts; null after `timeoutMs` or when `w` exits. */
function ask<T extends ReloadReply>(w: Worker, message: ReloadMessage, match: (m: ReloadReply) => m is T, timeoutMs: number): Promise<T | null> {
  return new Promise((resolve) => {
    const done = (r: T | null): void => { clearTimeout(timer); w.off('message', onMsg); w.off('exit', onExit); resolve(r); };
    const onMsg = (m: ReloadReply): void => { if (m !== null && typeof m === 'object' && match(m)) done(m); };
    const onExit = (): void => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    timer.unref();
    w.on('message', onMsg);
    w.once('exit', onExit);
    try { w.send(message); } catch { done(null); }
  });
}

/**
 * Two-phase reload over `workers` (every one of them must be running): prepare everywhere, then
 * commit everywhere, or discard everywhere. `beforeCommit` runs between the phases, so a worker
 * restarted from then on boots with the new config. A worker that prepared but dies before it
 * commits is restarted with the committed config: every worker ends on one version.
 */
export async function coordinateReload(workers: readonly Worker[], text: string, version: number, id: number, beforeCommit: () => void, timeoutMs = RELOAD_ANSWER_TIMEOUT_MS, policy: PolicyVersion | null = null): Promise<ReloadOutcome> {
  const prepared = await Promise.all(workers.map((w) => ask(w, { type: 'config.prepare', id, text, version, policy },
    (m): m is Extract<ReloadReply, { type: 'worker.prepared' }> => m.type === 'worker.prepared' && m.id === id, timeoutMs)));
  const refusals = prepared.filter((p) => p !== null && !p.ok) as Array<Extract<ReloadReply, { ok: false }>>;
  const unanswered = prepared.filter((p) => p === null).length;
  if (refusals.length > 0 || unanswered > 0) {
    for (const w of workers) { try { w.send({ type: 'config.discard', id } satisfies ReloadMessage); } catch { /* gone: restarts with the committed config */ } }
    if (refusals.length === 0) return { kind: 'unanswered', unanswered };
    // workers share one environment and one text: their problems are the same, listed once
    const seen = new Set<string>();
    const errors = refusals.flatMap((r) => r.errors).filter((e) => { const k = `${e.path}\0${e.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
    return { kind: 'refused', refused: refusals.length, errors };
  }
  beforeCommit();
  const acks = await Promise.all(workers.map((w) => ask(w, { type: 'config.commit', id },
    (m): m is Extract<ReloadReply, { type: 'worker.committed' }> => m.type === 'worker.committed' && m.id === id, timeoutMs)));
  return { kind: 'committed', acked: acks.filter((a) => a !== null).length };
}

/** The worker's side: what it does with each step (ProxyInstance prepare/commit/discard around a parsed text). */
export interface ReloadSteps<P> {
  prepare(text: string, version: number, policy: PolicyVersion | null): { ok: true; prepared: P } | { ok: false; errors: ConfigProblem[] };
  commit(prepared: P): number;
  /** After commit: resolves once a renewed certificate's replaced listen socket is closed (ProxyInstance.afterSwap); null: nothing to wait for. */
  afterCommit(): Promise<void> | null;
  discard(prepared: P): void;
}

/**
 * Handle the primary's reload messages in a worker; returns the `message` listener. At most one
 * prepared config is held: a newer prepare discards an older one that never got its verdict.
 */
export function workerReloadHandler<P>(steps: ReloadSteps<P>, send: (m: ReloadReply) => void): (m: ReloadMessage) => void {
  let pending: { id: number; prepared: P } | null = null;
  return (m) => {
    if (m === null || typeof m !== 'object') return;
    switch (m.type) {
      case 'config.prepare': {
        if (pending !== null) { steps.discard(pending.prepared); pending = null; }
        const r = steps.prepare(m.text, m.version, m.policy ?? null);
        if (r.ok) pending = { id: m.id, prepared: r.prepared };
        send(r.ok ? { type: 'worker.prepared', id: m.id, ok: true } : { type: 'worker.prepared', id: m.id, ok: false, errors: r.errors });
        return;
      }
      case 'config.commit': {
        if (pending === null || pending.id !== m.id) return; // discarded meanwhile by a newer prepare
        const p = pending.prepared;
        pending = null;
        const version = steps.commit(p);
        // the primary answers POST /reload on this message: a client connecting then must not reach the old socket
        const after = steps.afterCommit();
        if (after === null) send({ type: 'worker.committed', id: m.id, version });
        else void after.then(() => send({ type: 'worker.committed', id: m.id, version }));
        return;
      }
      case 'config.discard':
        if (pending !== null && pending.id === m.id) { steps.discard(pending.prepared); pending = null; }
        return;
      case 'config.boot':
        return; // answered by requestBootConfig's own listener
    }
  };
}

/** Ask the primary for the config to boot with; rejects after `timeoutMs` (the worker then fails at boot). */
export function requestBootConfig(timeoutMs = 10_000): Promise<{ text: string; start: string; version: number; policy: PolicyVersion | null; hold: boolean }> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: ReloadMessage): void => {
      if (m === null || typeof m !== 'object' || m.type !== 'config.boot') return;
      clearTimeout(timer);
      process.off('message', onMsg);
      resolve({ text: m.text, start: m.start ?? m.text, version: m.version, policy: m.policy ?? null, hold: m.hold === true });
    };
    const timer = setTimeout(() => { process.off('message', onMsg); reject(new Error(`no config from the primary within ${timeoutMs} ms`)); }, timeoutMs);
    process.on('message', onMsg);
    toPrimary({ type: 'worker.config_request' } satisfies ReloadReply);
  });
}
