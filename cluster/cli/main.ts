#!/usr/bin/env node
// The `portcullis` command: dev, serve, check-config, explain, bench (and the
// internal `worker` entry used by the node:cluster supervisor). Exit code 2 on bad
// usage or bad config, with a readable message.
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { formatProblems, loadConfigFile, type Config } from '../../node/config/index.js';
import { createLogger, type Logger } from '../../node/log.js';
import { watchConfig } from '../../node/config/config-watch.js';
import { ProxyInstance } from '../../node/instance.js';
import { Supervisor, type IssuerReadiness, type PrimaryMessage, type WorkerMessage } from '../supervisor.js';
import { startMember } from '../member-wiring.js';
import type { ClusterRole } from '../index.js';

const USAGE: Record<string, string> = {
  main: `portcullis — OAuth 2.0 access proxy for microservices

Usage: portcullis <command> [options]

Commands:
  dev                              embedded demo: authorization server + echo upstream + proxy
  serve --config FILE [--workers N|auto]
                                   run the proxy
  check-config FILE                validate a config file, list every error with its path
  explain --config FILE METHOD PATH [--token T] [--host H]
                                   which route matches, each rule and why allowed/denied
  revoke (--jti ID | --token T | --sub S [--before TIME] | --client ID | --kid KID) (--config FILE | --admin URL)
                                   revoke tokens on every instance (NATS, else the admin API)
  cluster-demo [--exit]            nats-server + 3 instances: a revocation at one is refused at the others
  bench [SCENARIO...] [--quick]    run benchmarks (see bench/RESULTS.md)
  demo-auth | demo-echo            the dev mode's authorization server / echo upstream alone (compose demo)

Run "portcullis <command> --help" for a command's options.`,
  serve: `Usage: portcullis serve --config FILE [--workers N|auto] [--watch]

  --config FILE     YAML config (see deploy/portcullis.example.yaml)
  --workers N|auto  worker processes sharing the port (default: server.workers; auto = cores)
  --watch           reload when FILE changes (same as SIGHUP or admin POST /reload)

Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config.`,
  'check-config': `Usage: portcullis check-config FILE

Validates FILE completely; prints "ok" or every error with its path. Exit 0 when valid, 2 otherwise.`,
  dev: `Usage: portcullis dev [--port N]

Starts, on loopback, an embedded authorization server, an echo upstream and the proxy,
then prints the proxy URL, a ready bearer token and copy-paste curl lines. Ctrl-C stops all.`,
  explain: `Usage: portcullis explain --config FILE METHOD PATH [--token T] [--host H]

Prints the matched route, each rule and why the request would be allowed or denied.
With --token the token is checked against the issuers' live JWKS/introspection.`,
  'cluster-demo': `Usage: portcullis cluster-demo [--exit]

Starts a local nats-server (JetStream), the demo authorization server, an echo upstream and
three proxy instances; shows a token allowed at all three, revoked at instance 1 and refused
at instances 2 and 3 with the delay. --exit stops after the demonstration (exit 0 when it held).`,
  bench: `Usage: portcullis bench [SCENARIO...] [--quick]

Runs the autocannon scenarios (default: all) and writes bench/results/*.json.`,
};

class UsageError extends Error {}

function fail(message: string, code = 2): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}

function loadOrExit(file: string | undefined, cmd: string): Config {
  if (file === undefined) throw new UsageError(`${cmd}: --config FILE is required\n\n${USAGE[cmd] ?? ''}`);
  const r = loadConfigFile(file);
  if (!r.ok) fail(`invalid config ${file}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  return r.config;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, workers: { type: 'string' }, watch: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true });
  if (values.help) { process.stdout.write(USAGE.serve + '\n'); return; }
  // Bad usage is reported before the config file is read.
  let workersFlag: number | undefined;
  if (values.workers !== undefined) {
    if (values.workers === 'auto') workersFlag = availableParallelism();
    else if (/^\d+$/.test(values.workers) && Number(values.workers) >= 1) workersFlag = Number(values.workers);
    else throw new UsageError(`--workers: expected a number ≥ 1 or "auto", got "${values.workers}"`);
  }
  const config = loadOrExit(values.config, 'serve');
  const workers = workersFlag ?? (config.server.workers === 'auto' ? availableParallelism() : config.server.workers);
  const logger = createLogger({ level: config.log.level, format: config.log.format });
  // SIGHUP's default action ends the process: one that arrives while the instance starts
  // (waiting for the bus, forking workers — seconds) would kill it. Remember it and reload
  // once started: the file may have changed after it was read.
  let hupWhileStarting = false;
  const earlyHup = (): void => { hupWhileStarting = true; };
  process.on('SIGHUP', earlyHup);
  if (workers > 1) {
    const sup = new Supervisor(config, values.config!, workers, logger);
    try { await sup.start(); } catch (err) { logger.fatal({ err: String(err) }, 'start failed'); logger.flush(); setTimeout(() => process.exit(1), 50); return; }
    process.off('SIGHUP', earlyHup);
    if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); void sup.reload(); }
    if (values.watch) watchConfig(values.config!, () => { logger.info('config file changed: reloading'); void sup.reload(); });
    return;
  }
  const inst = await runSingle(config, values.config!, logger, true, 'single');
  process.off('SIGHUP', earlyHup);
  if (hupWhileStarting) { logger.info('SIGHUP received while starting: reloading'); inst.reloadFromFile(); }
  if (values.watch) watchConfig(values.config!, () => { logger.info('config file changed: reloading'); inst.reloadFromFile(); });
}

/** Run one instance in this process (single-process mode or a cluster worker). */
async function runSingle(config: Config, configPath: string, logger: Logger, admin: boolean, role: ClusterRole): Promise<ProxyInstance> {
  let inst: ProxyInstance;
  let member: Awaited<ReturnType<typeof startMember>> | null = null;
  try {
    member = await startMember(config, logger, role);
    inst = await ProxyInstance.start({ config, configPath, logger, admin, ...member.instance });
  } catch (err) {
    void member?.node.close();
    const message = (err as Error).message ?? String(err);
    if (process.send !== undefined) process.send({ type: 'worker.boot_failed', message } satisfies WorkerMessage);
    logger.fatal({ err: message }, 'start failed');
    logger.flush();
    setTimeout(() => process.exit(1), 50);
    throw err;
  }
  const node = member.node;
  const stop = (): void => {
    void inst.shutdown().then(() => node.close()).then(() => { logger.info('stopped'); logger.flush(); setTimeout(() => process.exit(0), 20); });
  };
  if (admin) {
    // printed at any log level: scripts and tests read the ports from it
    process.stdout.write(`${JSON.stringify({ msg: 'listening', port: inst.port, adminPort: inst.adminPort })}\n`);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => { inst.reloadFromFile(); });
  }
  return inst;
}

async function worker(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, port: { type: 'string' } }, strict: true });
  const r = loadConfigFile(values.config!);
  if (!r.ok) { process.send?.({ type: 'worker.boot_failed', message: formatProblems(r.errors) } satisfies WorkerMessage); process.exit(2); }
  const port = Number(values.port);
  const config = { ...r.config, server: { ...r.config.server, listen: { ...r.config.server.listen, port } } } as Config;
  const logger = createLogger({ level: config.log.level, format: config.log.format, name: `portcullis-w${process.env.PORTCULLIS_WORKER_INDEX ?? ''}` });
  const inst = await runSingle(config, values.config!, logger, false, 'worker');
  const { AggregatorRegistry } = await import('prom-client');
  AggregatorRegistry.setRegistries([inst.metrics.registry]);
  // prom-client installs the worker-side listener that answers the primary's
  // metrics requests only in the AggregatorRegistry constructor; without it the
  // primary's /metrics times out after 5 s.
  new AggregatorRegistry();
  // The primary coordinates shutdown; a terminal Ctrl-C reaches us too, ignore it.
  process.on('SIGINT', () => {});
  const stop = (): void => { void inst.shutdown().then(() => { logger.flush(); setTimeout(() => process.exit(0), 20); }); };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.on('message', (m: PrimaryMessage) => {
    if (m?.type === 'worker.shutdown') stop();
    else if (m?.type === 'config.reload') {
      const res = inst.reloadFromFile();
      process.send?.({ type: 'worker.reloaded', ok: res.ok, ...(res.ok ? {} : { errors: res.errors }) } satisfies WorkerMessage);
    }
  });
  process.send?.({ type: 'worker.ready', port: inst.port } satisfies WorkerMessage);
  const status = (): void => {
    if (!process.connected) return;
    const r = inst.readiness();
    process.send?.({ type: 'worker.status', ready: r.ready, issuers: r.detail.issuers as IssuerReadiness } satisfies WorkerMessage);
  };
  status();
  setInterval(status, 500).unref();
  void inst.whenAuthReady(60_000).then(status);
}

function checkConfig(argv: string[]): void {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (values.help) { process.stdout.write(USAGE['check-config'] + '\n'); return; }
  if (positionals.length !== 1) throw new UsageError(`check-config: expected exactly one FILE\n\n${USAGE['check-config']}`);
  const r = loadConfigFile(positionals[0]!);
  if (!r.ok) fail(`invalid config ${positionals[0]}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  process.stdout.write(`ok: ${positionals[0]} (${r.config.routes.length} routes, ${Object.keys(r.config.upstreams).length} upstreams, ${Object.keys(r.config.issuers).length} issuers)\n`);
}

async function main(): Promise<void> {
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
      case 'worker': return await worker(rest);
      case 'check-config': return checkConfig(rest);
      case 'dev': { const { dev } = await import('./dev.js'); return await dev(rest, USAGE.dev!); }
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
    if (err instanceof UsageError || (err as Error)?.name === 'UsageError') fail((err as Error).message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      fail(`${(err as Error).message}\n\n${USAGE[cmd ?? 'main'] ?? USAGE.main}`);
    }
    fail(`${(err as Error).message ?? String(err)}`, 1);
  }
}

export { UsageError };
void main();
