// The cluster's bus key material, read from the variables and files `cluster.auth` names.
// Errors name the config path; the key itself is never logged or put in a message.
import { readFileSync } from 'node:fs';
import { MIN_KEY_BYTES } from '../../node/contracts/index.js';
import { BusAuth } from './bus-auth.js';
import { shownEnvName } from '../../node/contracts/index.js';

/** The `cluster.auth` settings, resolved (cluster/revocation/revocation-settings.ts BusAuthSettings is this type). */
export interface BusKeySource {
  /** `hmac` (default): every message carries an HMAC-SHA256 with the shared key; `none`: explicit opt-out. */
  readonly mode: 'hmac' | 'none';
  readonly keyEnv: string | null;
  readonly keyFile: string | null;
  readonly previousKeyEnv: string | null;
  readonly previousKeyFile: string | null;
  /** Freshness window for live messages, ms (default 30 000). */
  readonly maxAgeMs: number;
}

/**
 * Build the authenticator for a NATS member or the revoke CLI: null for `mode: none`.
 * Throws an Error naming the config path when no key is configured, a variable is unset,
 * a file cannot be read, or a key is shorter than 32 bytes.
 */
export function busAuthFrom(src: BusKeySource, env: NodeJS.ProcessEnv = process.env): BusAuth | null {
  if (src.mode === 'none') return null;
  const key = readKey(src.keyEnv, src.keyFile, 'cluster.auth.key', env);
  if (key === null) {
    throw new Error('cluster.auth: cluster.nats needs a bus key: set cluster.auth.key_env or cluster.auth.key_file (32+ random bytes, the same on every member and for `portcullis revoke`), or opt out with cluster.auth.mode: none');
  }
  const previousKey = readKey(src.previousKeyEnv, src.previousKeyFile, 'cluster.auth.previous_key', env);
  return new BusAuth({ key, previousKey, maxAgeMs: src.maxAgeMs });
}

function readKey(envName: string | null, file: string | null, path: string, env: NodeJS.ProcessEnv): Buffer | null {
  let key: Buffer | null = null;
  let where = '';
  if (envName !== null) {
    const v = env[envName];
    if (v === undefined || v === '') throw new Error(`${path}_env: environment variable ${shownEnvName(envName)} is not set`);
    key = Buffer.from(v, 'utf8');
    where = `${path}_env (${envName})`;
  } else if (file !== null) {
    try {
      // trailing newline of `openssl rand -base64 48 > bus.key` is not part of the key
      key = Buffer.from(readFileSync(file, 'utf8').replace(/\s+$/, ''), 'utf8');
    } catch (err) {
      throw new Error(`${path}_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    where = `${path}_file (${file})`;
  }
  if (key !== null && key.byteLength < MIN_KEY_BYTES) throw new Error(`${where}: the key has ${key.byteLength} bytes, at least ${MIN_KEY_BYTES} are needed (e.g. openssl rand -base64 48)`);
  return key;
}
