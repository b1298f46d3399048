#!/usr/bin/env node
// The `portcullis` command: parses the command line and hands each command (USAGE lists
// them; `worker` is the node:cluster supervisor's internal entry, cluster/process) to its
// module. Exit code 2 on bad usage (UsageError) or bad config, 1 on any other failure.
import { availableParallelism } from 'node:os';
import { formatProblems, loadConfigFile, MAX_WORKERS, parseConfigText, plainHttpCredentials, readConfigText, watchConfig, type Config } from '../../node/config/index.js';
import { createLogger } from '../../node/log.js';
import { auditedReloadSingle, reloadSingle, runInstance, runWorker, Supervisor, type ClusterPolicy } from '../process/index.js';
import { appliedPolicyRecord } from '../../node/audit/index.js';
import { combinedText, localPolicyRoutes, policyRoutes, readClusterPolicyConfig, reloadLocalPart, waitForPolicy } from '../policy/index.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';
import type { ClusterNode } from '../index.js';

const USAGE: Record<string, string> = {
  main: `portcullis — OAuth 2.0 access proxy for microservices

Usage: portcullis <command> [options]

Commands:
  dev                              embedded demo: authorization server + echo upstream + proxy
  serve --config FILE [--workers N|auto] [--watch]
                                   run the proxy
  check-config [--no-env] FILE     validate a config file and its environment, list every error with its path
  explain --config FILE METHOD PATH [--token T] [--host H] [--json]
                                   which route matches, each rule and why allowed/denied
  revoke (--jti ID | --token T | --sub S [--before TIME] | --client ID [--before TIME] | --kid KID | --sid SID) (--config FILE | --admin URL)
                                   revoke tokens on every instance (NATS, else the admin API)
  cluster-demo [--exit]            nats-server + 3 instances: a revocation at one is refused at the others
  policy push|status|history|rollback --config FILE
                                   cluster-wide policy versions (policy --help)
  bench [SCENARIO...] [--quick] [--record]
                                   run benchmarks (bench --help lists the scenarios)
  demo-auth | demo-echo            the dev mode's authorization server / echo upstream alone (compose demo)

Run "portcullis <command> --help" for a command's options.`,
  serve: `Usage: portcullis serve --config FILE [--workers N|auto] [--watch]

  --config FILE     YAML config (see deploy/portcullis.example.yaml)
  --workers N|auto  worker processes sharing the port (default: server.workers; auto = cores)
  --watch           reload when FILE changes (same as SIGHUP or admin POST /reload)

Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config.`,
  'check-config': `Usage: portcullis check-config [--no-env] FILE

Validates FILE completely, including the environment it names: every *_env variable must be
set and non-empty and every *_file readable, as serve requires. Prints "ok" or every error
with its path. Exit 0 when valid, 2 otherwise.

  --no-env   skip the environment check (pipelines that validate without secrets and files)`,
  dev: `Usage: portcullis dev [--port N]

Starts, on loopback, an embedded authorization server, an echo upstream and the proxy,
then prints the proxy URL, a ready bearer token and copy-paste curl lines. Ctrl-C stops all.

  --port N   the proxy's port; exits 1 when N is in use (0 = any free port).
             Without --port: 8080, or a free port when 8080 is taken.`,
  explain: `Usage: portcullis explain --config FILE METHOD PATH [--token T] [--host H] [--json]

Prints the matched route, each rule and why the request would be allowed or denied.
With --token the token is checked against the issuers' live JWKS/introspection, and its
revocation by the instance at FILE's admin listener (on this host; else "revocations NOT checked").
  --json     print the answer as JSON; exit 0 when allowed, 1 when denied`,
  'cluster-demo': `Usage: portcullis cluster-demo [--exit]

Starts a local nats-server (JetStream), the demo authorization server, an echo upstream and
three proxy instances; shows a token allowed at all three, revoked at instance 1 and refused
at instances 2 and 3 with the delay. --exit stops after the demonstration (exit 0 when it held).`,
  bench: `Usage: portcullis bench [SCENARIO...] [--quick] [--record]

Runs the benchmark scenarios (each starts its own upstream, Portcullis and peers) and
prints a table per scenario; bench/RESULTS.md says how to read and accept them.

  --quick    smoke run: 1 round of 2 s per measurement (never recorded)
  --record   write the JSON to bench/results/ (numbers to cite in bench/RESULTS.md);
             without it every run writes to bench/results/local/ (git-ignored)

Environment: PORTCULLIS_BENCH_ROUNDS (3), PORTCULLIS_BENCH_DURATION_S (5),
PORTCULLIS_BENCH_JWT_ALG (RS256 or ES256), PORTCULLIS_BENCH_CPU_PROF_DIR (V8 profiles).`,
};

function fail(message: string, code = 2): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}

/** Read and validate FILE and the environment it names; exit 2 listing every problem. */
function loadOrExit(file: string | undefined, cmd: string): { config: Config; text: string } {
  if (file === undefined) throw new UsageError(`${cmd}: --config FILE is required\n\n${USAGE[cmd] ?? ''}`);
  const read = readConfigText(file);
  const r = read.ok ? parseConfigText(read.text, { env: process.env }) : read;
  if (!r.ok) fail(`invalid config ${file}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  return { config: r.config, text: (read as { text: string }).text };
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('serve', { args: argv, options: { config: { type: 'string' }, workers: { type: 'string' }, watch: { type: 'boolean' }, help: { type: 'boolean' } } }, USAGE.serve);
  if (values.help) { process.stdout.write(USAGE.serve + '\n'); return; }
  // Bad usage is reported before the config file is read.
  let workersFlag: number | undefined;
  if (values.workers !== undefined) {
    if (values.workers === 'auto') workersFlag = availableParallelism();
    // bounded as server.workers is: a typo (100000) would fork that many processes
    else if (/^\d+$/.test(values.workers) && Number(values.workers) >= 1 && Number(values.workers) <= MAX_WORKERS) workersFlag = Number(values.workers);
    else throw new UsageError(`--workers: expected a number from 1 to ${MAX_WORKERS} or "auto", got "${values.workers}"`);
  }
  // cluster policy: only the file's local part counts; the policy comes from the bus (or the state file)
  const cp = values.config !== undefined ? readClusterPolicyConfig(values.config) : null;
  if (cp !== null && !cp.ok) fail(`invalid config ${values.config}: ${cp.errors.length} error(s)\n${formatProblems(cp.errors)}`);
  let { config, text } = cp !== null ? { config: cp.config, text: '' } : loadOrExit(values.config, 'serve');
  const workers = workersFlag ?? (config.server.workers === 'auto' ? availableParallelism() : config.server.workers);
  const logger = createLogger({ level: config.log.level, format: config.log.format });
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
    else if (config.cluster.nats === undefined) sup.extraAdminRoutes = localPolicyRoutes(values.config!, () => sup.committedConfig, (t, c) => sup.applyConfig(t, c));
    try { await sup.start(); } catch (err) { logger.fatal({ err: String(err) }, 'start failed'); logger.flush(); setTimeout(() => process.exit(1), 50); return; }
    process.off('SIGHUP', earlyHup);
    if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); void sup.auditedReload({ kind: 'signal', signal: 'SIGHUP' }); }
    if (values.watch) watchConfig(values.config!, () => { logger.info('config file changed: reloading'); void sup.auditedReload({ kind: 'file_watch' }); });
    return;
  }
  const inst = await runInstance(config, values.config!, logger, true, 'single', 1, policy);
  process.off('SIGHUP', earlyHup);
  if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); auditedReloadSingle(inst, values.config!, policy, { kind: 'signal', signal: 'SIGHUP' }); }
  if (values.watch) watchConfig(values.config!, () => { logger.info('config file changed: reloading'); auditedReloadSingle(inst, values.config!, policy, { kind: 'file_watch' }); });
}

/** The primary owns the watcher: versions go to every worker or none, like a reload; reloads keep the cluster's policy. */
function attachPolicy(sup: Supervisor, policy: ClusterPolicy, configPath: string): void {
  sup.composeReload = () => reloadLocalPart(configPath, policy.watcher);
  // later versions combine with the reloaded local part (the start's would undo the reload)
  sup.onReloaded = (r) => { if (r.raw !== undefined) policy.watcher.localRaw = r.raw; };
  let member: ClusterNode | null = null;
  sup.onMember = (node) => { member = node; policy.watcher.attachMember(node.membership); };
  // the workers serve, the primary's watcher decides when auth routes wait for the policy
  sup.policyHold = () => policy.watcher.catchingUp(member?.busConnected() ?? false);
  policy.watcher.hold.onChange = () => sup.policyHoldChanged();
  sup.extraAdminRoutes = policyRoutes(policy.watcher, policy.watcher.status().member as string, () => member?.membership.all() ?? []);
  sup.extraReadiness = () => policy.watcher.readiness();
  sup.extraStats = () => policy.watcher.stats();
  const first = policy.watcher.current();
  if (first !== null) sup.policyVersion = { version: first.version, digest: first.digest };
  policy.watcher.setApplier(async (config, entry) => {
    const before = sup.policyVersion?.version ?? null;
    const version = { version: entry.version, digest: entry.digest };
    // a worker restarting (503) is transient: retry for ~5 s before refusing the version here
    let r = await sup.applyConfig(combinedText(policy.watcher.localRaw, entry.policyJson), config, version);
    for (let i = 0; i < 10 && r.status === 503; i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await sup.applyConfig(combinedText(policy.watcher.localRaw, entry.policyJson), config, version);
    }
    const result = r.status === 200 ? { ok: true as const } : { ok: false as const, errors: (r.body as { errors?: Array<{ path: string; message: string }> }).errors ?? [{ path: '(workers)', message: String((r.body as { message?: string }).message ?? 'not applied') }] };
    sup.auditRecord(appliedPolicyRecord(entry, before, result));
    return result;
  });
}

function checkConfig(argv: string[]): void {
  const { values, positionals } = parseCommandLine('check-config', { args: argv, options: { help: { type: 'boolean' }, 'no-env': { type: 'boolean' } }, allowPositionals: true }, USAGE['check-config']);
  if (values.help) { process.stdout.write(USAGE['check-config'] + '\n'); return; }
  if (positionals.length !== 1) throw new UsageError(`check-config: expected exactly one FILE\n\n${USAGE['check-config']}`);
  const noEnv = values['no-env'] === true;
  const cp = readClusterPolicyConfig(positionals[0]!, noEnv ? null : process.env);
  if (cp !== null) {
    // cluster policy: only the local part is this file's; each pushed version is checked by push and by every instance
    if (!cp.ok) fail(`invalid config ${positionals[0]}: ${cp.errors.length} error(s)\n${formatProblems(cp.errors)}`);
    process.stdout.write(`ok: ${positionals[0]} (local part; the policy comes from the cluster${noEnv ? '; environment not checked' : ''})\n`);
    return;
  }
  const r = loadConfigFile(positionals[0]!, { env: noEnv ? null : process.env });
  if (!r.ok) fail(`invalid config ${positionals[0]}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  for (const w of plainHttpCredentials(r.config)) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
  process.stdout.write(`ok: ${positionals[0]} (${r.config.routes.length} routes, ${Object.keys(r.config.upstreams).length} upstreams, ${Object.keys(r.config.issuers).length} issuers${noEnv ? '; environment not checked' : ''})\n`);
}

/**
 * A reader that left (`portcullis … | head -0`): Node ignores SIGPIPE, so the next write fails with
 * EPIPE as an 'error' event that, unhandled, printed a crash trace and made every verdict exit 1.
 * Output nobody reads is dropped; the command ends with its own exit code.
 */
function dropOutputToClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

async function main(): Promise<void> {
  dropOutputToClosedPipe(process.stdout);
  dropOutputToClosedPipe(process.stderr);
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    switch (cmd) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE.main + '\n');
        if (cmd === undefined) process.exitCode = 2;
        return;
      case 'serve': return await serve(rest);
      case 'worker': return await runWorker(rest);
      case 'check-config': return checkConfig(rest);
      case 'dev': { const { dev } = await import('./dev.js'); return await dev(rest, USAGE.dev!); }
      case 'policy': { const { policy, POLICY_USAGE } = await import('./policy.js'); return await policy(rest, POLICY_USAGE); }
      case 'explain': { const { explain } = await import('./explain.js'); return await explain(rest, USAGE.explain!); }
      case 'cluster-demo': { const { clusterDemo } = await import('./cluster-demo.js'); return await clusterDemo(rest, USAGE['cluster-demo']!); }
      case 'revoke': { const { revoke, REVOKE_USAGE } = await import('./revoke.js'); return await revoke(rest, REVOKE_USAGE); }
      case 'bench': { const { bench } = await import('./bench.js'); return await bench(rest, USAGE.bench!); }
      case 'demo-auth': { const { demoAuth } = await import('./demo-servers.js'); return await demoAuth(rest); }
      case 'demo-echo': { const { demoEcho } = await import('./demo-servers.js'); return await demoEcho(rest); }
      default:
        throw new UsageError(`unknown command "${cmd}"\n\n${USAGE.main}`);
    }
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      fail(`${(err as Error).message}\n\n${USAGE[cmd ?? 'main'] ?? USAGE.main}`);
    }
    fail(`${(err as Error).message ?? String(err)}`, 1);
  }
}

void main();
