// Builds the token stages (extract → authenticate → authorize → mutate) for one
// config: JWT verifier, introspection clients and compiled route policies.
import type { Config, RouteConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { AuthStages } from '../http/snapshot.js';
import { proxyError } from '../errors.js';

export interface AuthLayer {
  readonly stages: AuthStages;
  compilePolicy(route: RouteConfig): unknown;
  /** Reconfigure for a new config version (hot reload); keeps warm state where possible. */
  reconfigure(config: Config): void;
  stats(): Record<string, number>;
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export function createAuthLayer(config: Config, logger: Logger): AuthLayer {
  void config; void logger;
  const deny = { kind: 'deny' as const, error: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token validation not available'), reason: 'unavailable' };
  const stages: AuthStages = {
    extract: () => deny,
    authenticate: () => deny,
    authorize: () => deny,
    mutate: () => {},
    stripsAuthorization: () => false,
    isIdentityHeader: (k) => k.startsWith('x-auth-'),
    ready: () => true,
  };
  return {
    stages,
    compilePolicy: (r) => (r.auth === 'none' ? null : r.auth ?? {}),
    reconfigure: () => {},
    stats: () => ({}),
    whenReady: async () => true,
    close: async () => {},
  };
}
