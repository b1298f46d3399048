// The environment a config needs before it may start or be reloaded: every `*_env` field
// names a variable that must be set and non-empty (and the DPoP nonce secret must be long
// enough). One walk, used by serve, reload, check-config and explain, so all refuse alike.
import { MIN_NONCE_SECRET_BYTES } from '../dpop/nonce.js';
import type { ConfigProblem } from './load.js';
import type { Config } from './schema.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** Calls `visit` for every string field whose key ends in `_env`, with its dotted config path. */
function walk(v: unknown, path: string, visit: (path: string, name: string) => void): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => walk(x, `${path}[${i}]`, visit));
    return;
  }
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    const at = path === '' ? k : `${path}.${k}`;
    if (k.endsWith('_env') && typeof x === 'string') visit(at, x);
    else walk(x, at, visit);
  }
}

/**
 * Every problem with the environment `config` names, each with its config path:
 * `issuers.main.introspection.client_secret_env: environment variable X is not set`.
 * Fields are found by name (any key ending in `_env`), so a new secret field is covered
 * without a change here. Never reports a variable's value. Empty list = the config can start.
 */
export function checkEnvironment(config: Config, env: Environment = process.env): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  walk(config, '', (path, name) => {
    const value = env[name];
    if (value === undefined) out.push({ path, message: `environment variable ${name} is not set` });
    else if (value === '') out.push({ path, message: `environment variable ${name} is empty` });
  });
  const nonce = config.dpop?.nonce?.secret_env;
  const secret = nonce === undefined ? undefined : env[nonce];
  if (nonce !== undefined && secret !== undefined && secret !== '') {
    const bytes = Buffer.byteLength(secret, 'utf8');
    if (bytes < MIN_NONCE_SECRET_BYTES) out.push({ path: 'dpop.nonce.secret_env', message: `${nonce} must hold at least ${MIN_NONCE_SECRET_BYTES} bytes (has ${bytes})` });
  }
  return out;
}
