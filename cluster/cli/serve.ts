// `portcullis serve`: reads and validates the config (or a cluster policy's local part), then runs
// one instance or the node:cluster supervisor with its workers; SIGHUP and --watch reload. Loaded
// by main.ts only when the command is serve: --help and the other commands skip its modules.
import { availableParallelism } from 'node:os';
import { formatProblems, MAX_WORKERS, parseConfigText, readConfigText, renewableTlsFiles, watchConfig, type Config, type WatchOptions } from '../../node/config/index.js';
import { createLogger } from '../../node/log.js';
import { auditedReloadSingle, runInstance, Supervisor, type ClusterPolicy } from '../process/index.js';
import { appliedPolicyRecord } from '../../node/audit/index.js';
import { combinedText, filePolicyRoutes, localPolicyRoutes, policyRoutes, readClusterPolicyConfig, reloadLocalPart, waitForPolicy, withLocalPartNow, type CheckedEntry } from '../policy/index.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';
import { fail } from './fail.js';
import type { ClusterNode } from '../index.js';

/** Read and validate FILE and the environment it names; exit 2 listing every problem. */
function loadOrExit(file: string | undefined, usage: string): { config: Config; text: string } {
  if (file === undefined) throw new UsageError(`serve: --config FILE is required\n\n${usage}`);
  const read = readConfigText(file);
  const r = read.ok ? parseConfigText(read.text, { env: process.env, stateFolders: true, refuseHiddenRoutes: true }) : read;
  if (!r.ok) fail(`invalid config ${file}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  return { config: r.config, text: (read as { text: string }).text };
}

/** Run `serve` with its arguments; `usage` is its --help text. */
export async function serve(argv: string[], usage: string): Promise<void> {
  const { values } = parseCommandLine('serve', { args: argv, options: { config: { type: 'string' }, workers: { type: 'string' }, watch: { type: 'boolean' }, help: { type: 'boolean' } } }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  // Bad usage is reported before the config file is read.
  let workersFlag: number | undefined;
  if (values.workers !== undefined) {
    if (values.workers === 'auto') workersFlag = availableParallelism();
    // bounded as server.workers is: a typo (100000) would fork that many processes
    else if (/^\d+$/.test(values.workers) && Number(values.workers) >= 1 && Number(values.workers) <= MAX_WORKERS) workersFlag = Number(values.workers);
    else throw new UsageError(`--workers: expected a number from 1 to ${MAX_WORKERS} or "auto", got "${values.workers}"`);
  }
  // cluster policy: only the file's local part counts; the policy comes from the bus (or the state file)
  const cp = values.config !== undefined ? readClusterPolicyConfig(values.config, process.env, true) : null;
  if (cp !== null && !cp.ok) fail(`invalid config ${values.config}: ${cp.errors.length} error(s)\n${formatProblems(cp.errors)}`);
  let { config, text } = cp !== null ? { config: cp.config, text: '' } : loadOrExit(values.config, usage);
  const workers = workersFlag ?? (config.server.workers === 'auto' ? availableParallelism() : config.server.workers);
  const logger = createLogger({ level: config.log.level, format: config.log.format, bufferBytes: config.log.buffer_bytes, sharedStdout: workers > 1 });
  // SIGHUP's default action ends the process: one that arrives while the instance starts
  // (waiting for the bus, forking workers — seconds) would kill it. Remember it and reload
  // once started: the file may have changed after it was read.
  let hupWhileStarting = false;
  const earlyHup = (): void => { hupWhileStarting = true; };
  process.on('SIGHUP', earlyHup);
  let policy: ClusterPolicy | null = null;
  if (cp !== null) {
    const first = await waitForPolicy(cp.config, cp.raw, logger);
    policy = { watcher: first.watcher, raw: cp.raw };
    config = first.config;
    text = combinedText(cp.raw, first.watcher.current()?.policyJson);
  }
  if (workers > 1) {
    const sup = new Supervisor(config, text, values.config!, workers, logger);
    if (policy !== null) attachPolicy(sup, policy, values.config!);
    else if (config.cluster.nats === undefined) sup.extraAdminRoutes = localPolicyRoutes(values.config!, () => sup.committedConfig, (text, c) => sup.applyConfig({ text, config: c }));
    else sup.extraAdminRoutes = filePolicyRoutes(() => sup.committedConfig);
    try { await sup.start(); } catch (err) {
      // as a single process says it; then stop the workers still booting and wait for them (exiting at once, the
      // primary left each an "Error: write EPIPE" trace from its closed channel — e.g. for an admin port in use)
      const message = (err as Error).message ?? String(err);
      logger.fatal({ err: message }, 'start failed');
      process.stderr.write(`portcullis: ${message}\n`);
      void sup.stop(1);
      return;
    }
    process.off('SIGHUP', earlyHup);
    if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); void sup.auditedReload({ kind: 'signal', signal: 'SIGHUP' }); }
    if (values.watch) watchConfig(values.config!, watchReloadWorkers(sup, logger), renewableTlsFiles(config.server), heldOptions(logger));
    return;
  }
  const inst = await runInstance(config, values.config!, logger, true, 'single', 1, policy);
  process.off('SIGHUP', earlyHup);
  if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); auditedReloadSingle(inst, values.config!, policy, { kind: 'signal', signal: 'SIGHUP' }); }
  if (values.watch) watchConfig(values.config!, () => { logger.info('config file changed: reloading'); auditedReloadSingle(inst, values.config!, policy, { kind: 'file_watch' }); }, renewableTlsFiles(config.server), heldOptions(logger));
}

/** Tries of one --watch change that the workers could not take then (0.5 s apart, plus a worker's 5 s to answer). */
const WATCH_RETRIES = 120;

/**
 * --watch with workers: a reload refused 503 (a worker paused past its 5 s or restarting: nothing changed) is tried
 * again every 0.5 s until it is taken — before, the file on disk stayed unapplied until it changed once more.
 */
function watchReloadWorkers(sup: Supervisor, logger: ReturnType<typeof createLogger>): () => void {
  let retry: NodeJS.Timeout | null = null;
  let change = 0; // a newer change starts its own tries: the older ones stop
  const attempt = (mine: number, left: number): void => {
    retry = null;
    void sup.auditedReload({ kind: 'file_watch' }).then((r) => {
      if (r.status !== 503 || sup.isStopping || mine !== change) return; // applied, invalid (422), or a newer change took over
      if (left === 0) { logger.error('config file change not applied: the workers could not take it; a SIGHUP or the next change tries again'); return; }
      logger.warn('config file change not applied yet: a worker could not take it; trying again');
      retry = setTimeout(() => attempt(mine, left - 1), 500);
      retry.unref();
    });
  };
  return () => {
    if (retry !== null) clearTimeout(retry);
    logger.info('config file changed: reloading');
    attempt(++change, WATCH_RETRIES);
  };
}

/**
 * --watch's word for a changed file still open for writing: it is reloaded once its writer closes it. Said when
 * the wait begins and again every HELD_WARN_MS while it lasts (before: once, then silence for as long as it held).
 */
function heldOptions(logger: ReturnType<typeof createLogger>): WatchOptions {
  return {
    onHeld: (w, waitedMs) => {
      if (waitedMs === 0) logger.warn({ file: w.file, pid: w.pid }, 'config file changed: waiting for the process writing it to close it');
      else logger.warn({ file: w.file, pid: w.pid, waited_s: Math.round(waitedMs / 1000) }, 'config file change still not applied: waiting for the process writing it to close it (POST /reload applies the file as it is)');
    },
  };
}

/** The primary owns the watcher: versions go to every worker or none, like a reload; reloads keep the cluster's policy. */
function attachPolicy(sup: Supervisor, policy: ClusterPolicy, configPath: string): void {
  // the version the workers run: the watcher names a version only after the apply returned, and a
  // reload queued behind the apply runs before that (it put the previous version's policy back)
  let committed: CheckedEntry | null = policy.watcher.current();
  sup.composeReload = () => reloadLocalPart(configPath, policy.watcher, committed);
  // later versions combine with the reloaded local part (the start's would undo the reload)
  sup.onReloaded = (r) => { if (r.raw !== undefined) policy.watcher.localRaw = r.raw; };
  let member: ClusterNode | null = null;
  sup.onMember = (node) => { member = node; policy.watcher.attachMember(node.membership); };
  // the workers serve, the primary's watcher decides when auth routes wait for the policy
  sup.policyHold = () => policy.watcher.catchingUp(member?.busConnected() ?? false);
  policy.watcher.hold.onChange = () => sup.policyHoldChanged();
  sup.extraAdminRoutes = policyRoutes(policy.watcher, policy.watcher.status().member as string, () => member?.membership.all() ?? []);
  sup.extraReadiness = () => policy.watcher.readiness(member?.busConnected() ?? false);
  sup.extraStats = () => policy.watcher.stats();
  const first = policy.watcher.current();
  if (first !== null) sup.policyVersion = { version: first.version, digest: first.digest };
  policy.watcher.setApplier(async (config, entry, checkedWith) => {
    const before = sup.policyVersion?.version ?? null;
    const version = { version: entry.version, digest: entry.digest };
    // composed at its turn: with the local part of a reload committed before it (else the version undid the reload)
    const compose = (): ReturnType<typeof withLocalPartNow> => withLocalPartNow(policy.watcher, entry, config, checkedWith);
    const onCommit = (): void => { committed = entry; };
    // a worker restarting (503) is transient: retry for ~5 s before refusing the version here
    let r = await sup.applyConfig(compose, version, onCommit);
    for (let i = 0; i < 10 && r.status === 503; i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await sup.applyConfig(compose, version, onCommit);
    }
    const result = r.status === 200 ? { ok: true as const } : { ok: false as const, errors: (r.body as { errors?: Array<{ path: string; message: string }> }).errors ?? [{ path: '(workers)', message: String((r.body as { message?: string }).message ?? 'not applied') }] };
    sup.auditRecord(appliedPolicyRecord(entry, before, result));
    return result;
  });
}
