// The node:cluster worker's entry (`portcullis worker`, started only by the supervisor): boots
// on the primary's committed config, serves on the shared port, answers the primary's
// reload steps, metrics requests and shutdown, and reports its readiness every 500 ms and on a change.
import { parseArgs } from 'node:util';
import { formatProblems, parseConfigText, withStartFields, type Config } from '../../node/config/index.js';
import { createLogger, logSettled } from '../../node/log.js';
import { runInstance, stopInstance } from './run-instance.js';
import type { PrimaryMessage, WorkerMessage } from './supervisor.js';
import type { IssuerReadiness } from './worker-slots.js';
import { requestBootConfig, workerReloadHandler, type ReloadMessage } from './worker-reload.js';
import { answerWorkerAdmin } from './worker-admin.js';
import { toPrimary } from '../transport/index.js';
import { aggregatorRegistry } from '../../node/metrics/index.js';
import { STATUS_LOOK_MS, StatusPace } from './worker-status.js';

/** Run this process as worker `PORTCULLIS_WORKER_INDEX`; exits 2 when the primary's config does not hold in this worker's environment. */
export async function runWorker(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, port: { type: 'string' }, 'http2-port': { type: 'string' } }, strict: true });
  const port = Number(values.port);
  const http2Port = values['http2-port'] === undefined ? null : Number(values['http2-port']);
  // a shutdown, or the primary gone, while this worker boots: it leaves instead of finishing its
  // boot and binding the shared port during the shutdown (its handlers below come after the boot)
  const atBoot = { leave: false };
  const early = (m: PrimaryMessage): void => { if (m?.type === 'worker.shutdown') atBoot.leave = true; };
  const gone = (): void => { atBoot.leave = true; };
  process.on('message', early);
  process.on('disconnect', gone);
  process.on('SIGTERM', gone);
  const leaving = (): boolean => atBoot.leave || !process.connected;
  // the primary's committed config, not the file: it may have been edited since (a refused reload)
  const bootFailed = (message: string): never => { toPrimary({ type: 'worker.boot_failed', message } satisfies WorkerMessage); process.exit(2); };
  const boot = await requestBootConfig().catch((err: Error) => bootFailed(err.message));
  /** Parse a config text from the primary for this worker: its environment checked, the shared port in place. */
  const parse = (text: string): ReturnType<typeof parseConfigText> => {
    const r = parseConfigText(text, { env: process.env });
    if (!r.ok) return r;
    const h2 = r.config.server.http2;
    const http2 = h2 !== undefined && http2Port !== null ? { http2: { ...h2, listen: { ...h2.listen, port: http2Port } } } : {};
    return { ok: true, config: { ...r.config, server: { ...r.config.server, listen: { ...r.config.server.listen, port }, ...http2 } } as Config };
  };
  if (leaving()) process.exit(0); // nothing served yet
  const r = parse(boot.text);
  if (!r.ok) bootFailed(formatProblems(r.errors));
  // a worker restarted after a reload runs what the others run: the start's values of the fields read at start only
  const s = boot.start === boot.text ? r : parse(boot.start);
  const started = s.ok ? s.config : (r as { config: Config }).config;
  const config = withStartFields((r as { config: Config }).config, started);
  const logger = createLogger({ level: config.log.level, format: config.log.format, bufferBytes: config.log.buffer_bytes, sharedStdout: true, name: `portcullis-w${process.env.PORTCULLIS_WORKER_INDEX ?? ''}` });
  // the primary owns the cluster policy watcher: it says when auth routes wait for the policy
  let policyHold = boot.hold;
  const inst = await runInstance(config, values.config!, logger, false, 'worker', boot.version, null, boot.policy, () => policyHold, started);
  const AggregatorRegistry = aggregatorRegistry();
  AggregatorRegistry.setRegistries([inst.metrics.registry]);
  // prom-client installs the worker-side listener that answers the primary's
  // metrics requests only in the AggregatorRegistry constructor; without it the
  // primary's /metrics times out after 5 s.
  new AggregatorRegistry();
  // The primary coordinates shutdown; a terminal Ctrl-C reaches us too, ignore it.
  process.on('SIGINT', () => {});
  // SIGHUP's default action ends the process: one meant for the primary (pkill -HUP, a script that
  // signals every pid) would cut this worker's connections and cost a restart
  process.on('SIGHUP', () => { logger.warn({ primary: process.ppid }, 'SIGHUP reached a worker and was ignored: send it to the primary to reload'); });
  // drain, then leave the cluster (peers drop this member at once instead of expiring it)
  const stop = (): void => { void stopInstance(inst).then((clean) => logSettled(logger).then(() => process.exit(clean ? 0 : 1))); };
  // the stop's SIGTERM listener before the boot's leaves: removing a signal's last listener stops Node
  // watching it, and a SIGTERM already caught but not yet delivered was lost with it (the cluster demo's
  // Ctrl-C was, cluster/cli/stop-signals.ts); both may hear it now, and stopInstance is one stop
  process.on('SIGTERM', stop);
  process.off('message', early);
  process.off('disconnect', gone);
  process.off('SIGTERM', gone);
  if (leaving()) { stop(); return; } // told while the instance started: drain what it took
  process.on('disconnect', stop);
  const reloads = workerReloadHandler({
    prepare: (text, version, policy) => {
      const c = parse(text);
      if (!c.ok) return c;
      const p = inst.prepare(c.config, version, policy);
      return p.ok ? { ok: true, prepared: p.prepared } : p;
    },
    commit: (p) => inst.commit(p),
    afterCommit: () => inst.afterSwap(),
    discard: (p) => inst.discard(p),
  }, (m) => toPrimary(m satisfies WorkerMessage));
  process.on('message', (m: PrimaryMessage) => {
    if (m?.type === 'worker.shutdown') { stop(); if (m.now === true) inst.endShutdownDelay(); }
    else if (m?.type === 'policy.hold') policyHold = m.on;
    else if (answerWorkerAdmin(m, () => inst.adminRoutes(), (a) => toPrimary(a))) return;
    else reloads(m as ReloadMessage);
  });
  toPrimary({ type: 'worker.ready', port: inst.port } satisfies WorkerMessage);
  // sent every 500 ms (the primary's watchdog hears the loop turn) and within 50 ms of a change: the primary's /readyz
  // reads these, and followed a worker whose requests began (or stopped) answering 503 up to 500 ms late
  const pace = new StatusPace();
  const status = (): void => {
    if (!process.connected) return;
    const r = inst.readiness();
    if (!pace.due(r.ready)) return;
    toPrimary({ type: 'worker.status', ready: r.ready, issuers: r.detail.issuers as IssuerReadiness } satisfies WorkerMessage);
  };
  status();
  setInterval(status, STATUS_LOOK_MS).unref();
  void inst.whenAuthReady(60_000).then(status);
}
