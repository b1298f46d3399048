// Shared pieces of the cluster integration suites: a silent logger, in-process
// ClusterNodes on a NATS URL list, and waiting for a condition.
import { pino } from 'pino';
import { ClusterNode, type ClusterRole } from '../../../cluster/index.js';
import type { ConnectionOptions } from 'nats';
import { subjectPrefix } from '../../helpers/cluster-members.js';
import { BUS_AUTH, BUS_ENV } from '../../helpers/proxy-process.js';

// in-process members read the bus key from this process' environment
Object.assign(process.env, BUS_ENV);

export const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh subject prefix per suite (`pt<tag>` + 6 random characters) so suites never see each other's streams. */
export function prefix(tag: string): string {
  return subjectPrefix(`pt${tag}`);
}

/** Start an in-process member on NATS. */
export function natsNode(servers: readonly string[], subjectPrefix: string, extra: Record<string, unknown> = {}, natsOptions: Partial<ConnectionOptions> = {}, role: ClusterRole = 'single'): Promise<ClusterNode> {
  return ClusterNode.start({
    config: { cluster: { nats: { servers: [...servers] }, subject_prefix: subjectPrefix, auth: BUS_AUTH, ...extra } },
    logger: silent,
    role,
    natsOptions,
    heartbeatMs: 200,
  });
}


/** p-quantile of a sample, ms. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
