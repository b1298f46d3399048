// What an instance is started with: its config and, from the cluster layer, the shared state it
// plugs in (revocations, introspection and DPoP sharing, readiness, the revocation publisher).
import type { AdminHandler } from './admin/admin-server.js';
import type { Config, Environment } from './config/index.js';
import type { ClusterStatus, IntrospectionSharing, PolicyVersion, ReplaySharing, RevocationPublisher, TokenState } from './contracts/index.js';
import type { Logger } from './log.js';

export interface InstanceOptions {
  config: Config;
  configPath?: string;
  logger: Logger;
  /** Run the admin listener in this process (false for node:cluster workers). */
  admin: boolean;
  /** Share the proxy port with sibling processes (SO_REUSEPORT; node:cluster workers); default false: a port another process holds fails the start. */
  sharedPort?: boolean;
  /** Extra admin routes (cluster layer). */
  adminRoutes?: Record<string, AdminHandler>;
  /** Revocation set and request gate from the cluster member; none = no revocation checks. */
  tokenState?: TokenState | null;
  /** Cluster-wide introspection sharing; none = per-process single-flight only. */
  sharing?: IntrospectionSharing | null;
  /** Cluster-wide DPoP proof replay check; none = per-process cache only. */
  dpopReplay?: ReplaySharing | null;
  /** Where `*_env` secrets are read; default process.env. */
  env?: Environment;
  /** Version of `config` (a worker restarted by the primary gets the committed one); default 1. */
  version?: number;
  /** Cluster part of /readyz and its metrics. */
  cluster?: ClusterStatus | null;
  /** Where identity-provider events (back-channel logout) publish revocations; none = those endpoints answer 503. */
  revocationPublisher?: RevocationPublisher | null;
  /** The cluster policy version `config` carries (cluster/policy); none = single-file policy, named by config version. */
  policy?: PolicyVersion | null;
  /** The config the process started with, when `config` is a later one (a worker restarted after a reload); default `config`. */
  started?: Config;
}
