// Checking a policy version for this instance: the entry decoded from its authentic envelope
// (gunzip, parse, digest), its local part combined with the version's policy by the one
// schema, then the secrets it names checked in this instance's environment. Heavy for large
// policies (10 000 routes), so the watcher runs it in a worker thread — except for small ones,
// where the hand-off to the thread and back costs more than the check (checkVersionFor).
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CanonicalRouteMemo, checkEnvironment, combinePolicy, deepFreeze, RouteParseMemo, shadowedRoutes, type Config, type ConfigProblem, type Environment } from '../../node/config/index.js';
import { decodeEntry, decodeEntryText, type CheckedEntry, type EntryRefusal, type PolicyEntry } from './policy-messages.js';

/** `invalid`: the policy is wrong anywhere; `environment`: valid, but this instance lacks a secret or file it names. */
export type PolicyVerdict =
  | { readonly ok: true; readonly config: Config; /** routes an earlier one hides: refused at a push, served from a stored version (logged) */ readonly hidden?: readonly ConfigProblem[] }
  | { readonly ok: false; readonly kind: 'invalid' | 'environment'; readonly errors: ConfigProblem[] };

/**
 * The routes of the version checked last on this thread: a version that changes a few routes
 * re-parses only those (validate-reusing.ts; the result is the same as a full validation).
 */
const lastRoutes = new RouteParseMemo();

/** The canonical JSON of the routes this thread's checks digested last (beside lastRoutes). */
const lastDigested = new CanonicalRouteMemo();

/** The check itself, on the calling thread (`memo`: the routes this thread parsed last time; `routeTexts`: each route's JSON text, when the digest wrote it). */
export function validatePolicy(localRaw: unknown, policy: unknown, env: Environment, memo: RouteParseMemo = lastRoutes, routeTexts?: ReadonlyArray<string | undefined> | null): PolicyVerdict {
  const r = combinePolicy(localRaw, policy, { env: null }, memo, routeTexts);
  if (!r.ok) return { ok: false, kind: 'invalid', errors: r.errors };
  const envErrors = checkEnvironment(r.config, env);
  if (envErrors.length > 0) return { ok: false, kind: 'environment', errors: envErrors };
  // a version in the bucket was accepted when pushed (maybe by an older build, before hidden routes were refused):
  // it is served, as every other member serves it, and what it hides is said — a refusal here split the cluster
  const hidden = shadowedRoutes(r.config);
  return hidden.length === 0 ? { ok: true, config: r.config } : { ok: true, config: r.config, hidden };
}

/** A version checked: not an entry at all (ignored and counted), or an entry and its verdict here. */
export type VersionCheck =
  | { readonly kind: 'ignored'; readonly reason: EntryRefusal }
  | { readonly kind: 'entry'; readonly entry: CheckedEntry; readonly verdict: PolicyVerdict };

/** Decode the payload of an authentic envelope and validate its policy here. */
export function checkVersion(localRaw: unknown, payload: Uint8Array, env: Environment): VersionCheck {
  return checkDecoded(localRaw, decodeEntry(payload, lastDigested), env, lastRoutes, lastDigested);
}

/** The memos warmCheck's rounds use instead of the running version's (which stay untouched). */
export class WarmMemos {
  readonly digest = new CanonicalRouteMemo();
  readonly routes = new RouteParseMemo();
}

/**
 * One round of warming: the version checked with `memos`, the result dropped. Fresh memos take
 * the branches of routes and sections that changed (parse, digest); memos of the round before
 * take those of unchanged ones (reuse) — a push takes both, and optimised code that saw only one
 * is thrown away (deoptimised) when the other comes.
 */
export function warmRound(localRaw: unknown, text: string, memos: WarmMemos): void {
  checkDecoded(localRaw, decodeEntryText(text, memos.digest), process.env, memos.routes, memos.digest);
}

/** warmRound twice, then up to `rounds` times while `budgetMs` lasts (odd rounds with fresh memos, even ones with the last round's), `pause` between rounds; the rounds done. */
export async function warmRounds(localRaw: unknown, text: string, rounds: number, budgetMs: number, pause?: () => Promise<void>): Promise<number> {
  const until = performance.now() + budgetMs;
  let memos = new WarmMemos();
  let done = 0;
  let last = 0; // the last round's duration (not the first's: that one runs cold, several times slower): a round that would end past the budget is not started
  // two rounds at least (the second one is warm and cheap), then while the budget lasts
  while (done < rounds && (done < 2 || performance.now() + last < until)) {
    if (done % 2 === 0) memos = new WarmMemos();
    const t0 = performance.now();
    warmRound(localRaw, text, memos);
    if (done > 0) last = performance.now() - t0;
    done++;
    await pause?.();
  }
  return done;
}

/** `digested`: the memo the entry was just digested with (its routes' JSON texts are reused by validation). */
function checkDecoded(localRaw: unknown, d: ReturnType<typeof decodeEntry>, env: Environment, memo: RouteParseMemo, digested: CanonicalRouteMemo): VersionCheck {
  if (!d.ok) return { kind: 'ignored', reason: d.reason };
  const { policy, ...head } = d.entry;
  const routes = (policy as { routes?: unknown }).routes;
  const texts = Array.isArray(routes) ? digested.textsOf(routes) : null;
  return { kind: 'entry', entry: { ...head, policyJson: JSON.stringify(policy) }, verdict: validatePolicy(localRaw, policy, env, memo, texts) };
}

/**
 * Policies up to this size (JSON, after gunzip) are checked on the event loop: ~1 ms for the
 * bench's 101 routes, ~2.5 ms for 201 (bench/micro/policy-check.bench.mjs, quiet-ish host;
 * routes whose JSON equals the last version's reuse their parse and canonical JSON), against a
 * hand-off to the validation thread and back that measured 4 ms median and tens of ms at p99 on
 * a busy host (two wake-ups that each wait for a core). A pushed policy has every default
 * filled in (~330 bytes of JSON per route), so 64 KiB is ~200 routes. Larger ones go to the thread.
 * Kept at 64 KiB, not 32, by measurement (bench/micro/policy-inline.bench.mjs): at 101 and 181
 * routes the thread's round trip held the loop as long or longer (the config is received and
 * frozen on it) and made the apply slower (README "Cluster policy").
 */
export const INLINE_MAX_BYTES = 64 * 1024;
/** The routes the event loop parsed last time (its own memo: a size keeps to one side, so each stays warm). */
const inlineRoutes = new RouteParseMemo();
const inlineDigested = new CanonicalRouteMemo();

/** checkVersion here when the policy is small (INLINE_MAX_BYTES), else checkVersionOffThread; the environment is this process's. */
export function checkVersionFor(localRaw: unknown, payload: Uint8Array): Promise<VersionCheck> {
  let text: string;
  try {
    text = gunzipSync(payload, { maxOutputLength: INLINE_MAX_BYTES }).toString('utf8');
  } catch {
    return checkVersionOffThread(localRaw, payload); // larger (or not gzip: the thread says corrupt)
  }
  try {
    return Promise.resolve(freezeVerdict(checkDecoded(localRaw, decodeEntryText(text, inlineDigested), process.env, inlineRoutes, inlineDigested)));
  } catch {
    return checkVersionOffThread(localRaw, payload); // a bug in the check: the thread reports it as the version's refusal
  }
}

/** Routes frozen per event-loop turn when a config arrives from the validation thread (a copy: the thread's freeze does not cross). */
const FREEZE_SLICE = 1_000;

/** freezeVerdict for a config from the thread: a large one's routes in slices, yielding between them. */
async function freezeYielding(r: VersionCheck): Promise<VersionCheck> {
  if (r.kind !== 'entry' || !r.verdict.ok) return r;
  const routes = r.verdict.config.routes;
  for (let i = FREEZE_SLICE; i < routes.length; i += FREEZE_SLICE) {
    for (const route of routes.slice(i - FREEZE_SLICE, i)) deepFreeze(route);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return freezeVerdict(r);
}

function freezeVerdict(r: VersionCheck): VersionCheck {
  return r.kind === 'entry' && r.verdict.ok ? { ...r, verdict: { ...r.verdict, config: deepFreeze(r.verdict.config) } } : r;
}

function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/cluster/policy/policy-validate.worker.js', here) : new URL('./policy-validate.worker.js', here);
}

/** A config with more routes comes back from the validation thread in slices of this many routes (one event-loop turn each). */
export const TRANSFER_SLICE = 1_000;

/** The long-lived validation thread: started on first use (its start — loading the schema — costs ~0.1–1 s, once), restarted after a failure. */
interface Job { done(v: VersionCheck): void; fail(message: string): void; warmed?(rounds: number): void; routes?: Config['routes'][number][] }
interface Validator { readonly worker: Worker; readonly pending: Map<number, Job> }
let validator: Validator | null = null;
let nextJob = 0;

function startValidator(): Validator {
  // SHARE_ENV: the secrets a version names are checked in this process's environment as it is now
  const worker = new Worker(workerUrl(), { env: SHARE_ENV });
  const v: Validator = { worker, pending: new Map() };
  const fail = (message: string): void => {
    if (validator === v) validator = null;
    for (const job of v.pending.values()) job.fail(message);
    v.pending.clear();
  };
  worker.on('message', (m: { id: number; routes: Config['routes'][number][] } | { id: number; result: VersionCheck; sliced?: true } | { id: number; warmed: number }) => {
    const job = v.pending.get(m.id);
    if ('routes' in m) { if (job !== undefined) (job.routes ??= []).push(...m.routes); return; }
    v.pending.delete(m.id);
    if (v.pending.size === 0) worker.unref();
    if ('warmed' in m) { job?.warmed?.(m.warmed); return; }
    const r = m.result;
    // the routes came ahead in slices: put them back into the config
    job?.done(m.sliced === true && r.kind === 'entry' && r.verdict.ok ? { ...r, verdict: { ...r.verdict, config: { ...r.verdict.config, routes: job.routes ?? [] } } } : r);
  });
  worker.once('error', (err) => fail(`validation failed: ${err.message}`));
  worker.once('exit', () => fail('validation worker exited without an answer'));
  worker.unref();
  return v;
}

/**
 * `checkVersion` in a worker thread (the event loop keeps serving): one long-lived thread,
 * versions checked one after another. The environment checked is this process's. A worker that
 * fails or times out answers `invalid` with the reason (and is replaced), never throws.
 */
export function checkVersionOffThread(localRaw: unknown, payload: Uint8Array, timeoutMs = 60_000): Promise<VersionCheck> {
  return new Promise((resolve) => {
    const v = validator ?? (validator = startValidator());
    const id = ++nextJob;
    const failed = (message: string): VersionCheck => {
      const d = decodeEntryHead(payload);
      return d === null ? { kind: 'ignored', reason: 'corrupt' } : { kind: 'entry', entry: { ...d, policyJson: '{}' }, verdict: { ok: false, kind: 'invalid', errors: [{ path: '(policy)', message }] } };
    };
    const timer = setTimeout(() => {
      v.pending.delete(id);
      if (validator === v) validator = null;
      void v.worker.terminate();
      resolve(failed(`validation did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    v.pending.set(id, {
      done: (r) => { clearTimeout(timer); void freezeYielding(r).then(resolve); },
      fail: (message) => { clearTimeout(timer); resolve(failed(message)); },
    });
    v.worker.ref();
    v.worker.postMessage({ id, localRaw, payload });
  });
}

/** Rounds of warmCheck (each one the start version's check again), and the time they may take at most, ms. */
export const WARM_ROUNDS = 16;
export const WARM_BUDGET_MS = 500;
/** Policies larger than this (JSON, ~3 000 routes) start the validation thread at boot without warming it. */
export const WARM_MAX_BYTES = 1024 * 1024;

/**
 * Warm the check path at start (before the member reports ready), so the first pushed versions
 * are not the slow ones: V8 optimises a function after it ran often, and a member ran the
 * per-version steps (decode, digest, the schema of the non-route sections, cross-check,
 * environment) only once for the version it starts with. Checks that version again (warmRounds:
 * the branches of changed and of unchanged routes both), where its size takes it — on the event
 * loop, yielding between rounds, or in the validation thread (started now, not at the first
 * large push) — twice, then up to `rounds` times while `budgetMs` lasts. The memos of the running version are not touched.
 * Never throws; resolves with the rounds done and where.
 */
export async function warmCheck(localRaw: unknown, payload: Uint8Array, rounds = WARM_ROUNDS, budgetMs = WARM_BUDGET_MS): Promise<{ rounds: number; where: 'event_loop' | 'thread' }> {
  let text: string | null = null;
  try { text = gunzipSync(payload, { maxOutputLength: INLINE_MAX_BYTES }).toString('utf8'); } catch { /* larger: the thread's */ }
  if (text === null) {
    // a very large policy: the thread is started, not warmed (one round would cost seconds; its checks never hold the loop)
    let small = true;
    try { gunzipSync(payload, { maxOutputLength: WARM_MAX_BYTES }); } catch { small = false; }
    return { rounds: await warmOffThread(localRaw, payload, small ? rounds : 0, budgetMs), where: 'thread' };
  }
  let done = 0;
  try {
    // requests (and the admin's /readyz) go between rounds
    done = await warmRounds(localRaw, text, rounds, budgetMs, () => new Promise((resolve) => setImmediate(resolve)));
  } catch { /* a bug in the check: the version's own check reports it */ }
  return { rounds: done, where: 'event_loop' };
}

/** warmCheck for the version a member started with, as the watcher keeps it (its entry sealed again: the same bytes to decode, the same digest). */
export function warmCheckEntry(localRaw: unknown, e: CheckedEntry): Promise<{ rounds: number; where: 'event_loop' | 'thread' }> {
  const text = `{"v":1,"version":${e.version},"basedOn":${e.basedOn},"digest":${JSON.stringify(e.digest)},"pushedBy":${JSON.stringify(e.pushedBy)},"pushedAt":${e.pushedAt},"policy":${e.policyJson}}`;
  return warmCheck(localRaw, gzipSync(text));
}

/** warmCheck's rounds in the validation thread (started when not yet): the thread answers with the rounds it did, nothing else crosses. */
function warmOffThread(localRaw: unknown, payload: Uint8Array, rounds: number, budgetMs: number): Promise<number> {
  return new Promise((resolve) => {
    const v = validator ?? (validator = startValidator());
    const id = ++nextJob;
    v.pending.set(id, { done: () => resolve(0), fail: () => resolve(0), warmed: resolve });
    // a thread that neither answers nor exits must not keep the member from becoming ready
    setTimeout(() => { v.pending.delete(id); resolve(0); }, budgetMs + 30_000).unref();
    v.worker.ref();
    v.worker.postMessage({ id, localRaw, payload, warm: { rounds, budgetMs } });
  });
}

/** The entry on this thread, only to report a worker failure against its version (rare). */
function decodeEntryHead(payload: Uint8Array): Omit<PolicyEntry, 'policy'> | null {
  const d = decodeEntry(payload);
  if (!d.ok) return null;
  const { policy: _policy, ...head } = d.entry;
  return head;
}
