// One proxy instance and its cluster member in this process: `serve` without workers, and
// each node:cluster worker. A start failure is reported to the primary (when there is one)
// and ends the process with exit 1; signals drain the instance when it owns the admin listener.
import type { Config } from '../../node/config/index.js';
import { ProxyInstance } from '../../node/instance.js';
import { logListening, type Logger } from '../../node/log.js';
import type { ClusterRole } from '../index.js';
import { startMember, type MemberWiring } from './member-wiring.js';
import type { WorkerMessage } from './supervisor.js';

/** Start the member, then the instance on it. `admin`: this process serves the admin API and handles SIGTERM/SIGINT/SIGHUP itself. */
export async function runInstance(config: Config, configPath: string, logger: Logger, admin: boolean, role: ClusterRole, version = 1): Promise<ProxyInstance> {
  let inst: ProxyInstance;
  let member: MemberWiring | null = null;
  try {
    member = await startMember(config, logger, role);
    inst = await ProxyInstance.start({ config, configPath, logger, admin, version, ...member.instance });
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
    logListening(logger, { port: inst.port, adminPort: inst.adminPort });
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => { inst.reloadFromFile(); });
  }
  return inst;
}
