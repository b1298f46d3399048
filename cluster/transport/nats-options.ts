// NATS connection settings from the `cluster.nats` config section: servers, user +
// password (from env), token (from env), creds file, TLS. Secrets are read from the
// environment here and never logged.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'nats';
import { nats } from './nats-module.js';
import { shownEnvName } from '../../node/contracts/index.js';

/** The `cluster.nats` section as this module reads it (a superset of the schema, so new optional fields work untouched). */
export interface NatsConfig {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly password_env?: string | undefined;
  readonly token_env?: string | undefined;
  readonly creds_file?: string | undefined;
  /** true = TLS with the system CAs; an object adds CA / client certificate files. */
  readonly tls?: boolean | { readonly ca_file?: string; readonly cert_file?: string; readonly key_file?: string } | undefined;
  /** Prefix of reply subjects (nats.js `inboxPrefix`, default `_INBOX`): one per NATS user, so permissions can keep users from reading each other's replies. */
  readonly inbox_prefix?: string | undefined;
}

/**
 * The servers as a message may name them: a `nats://user:password@host` entry loses its userinfo
 * (the schema refuses such an entry — nats.js never sends it — but a message must not print one).
 */
export function shownServers(servers: readonly string[]): string {
  // up to the last '@': a password may hold '/' or '@' (a generated one), and a part of it shown is a part given away
  return servers.map((s) => s.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1')).join(', ');
}

/**
 * How a long-lived member connection finds out its server went silent: a ping every 5 s, gone after 2
 * unanswered (~10–15 s), and at most 2 s per connect attempt, so a reconnect does not sit on a server
 * that swallows packets. nats.js's defaults (a ping every 2 min, 20 s per attempt) kept a connection on
 * a frozen or cut-off server for minutes. Every connection a member keeps open uses these.
 */
export const MEMBER_LIVENESS = { timeout: 2_000, pingInterval: 5_000, maxPingOut: 2 } as const;

/**
 * Build nats.js connection options. Throws an Error naming the config path when a
 * referenced environment variable is unset or the creds file cannot be read.
 */
export function natsConnectionOptions(cfg: NatsConfig, name: string, env: NodeJS.ProcessEnv = process.env): ConnectionOptions {
  const opts: ConnectionOptions = { servers: [...cfg.servers], name };
  if (cfg.inbox_prefix !== undefined) opts.inboxPrefix = cfg.inbox_prefix;
  if (cfg.user !== undefined) {
    opts.user = cfg.user;
    if (cfg.password_env !== undefined) opts.pass = requireEnv(env, cfg.password_env, 'cluster.nats.password_env');
  } else if (cfg.password_env !== undefined) {
    throw new Error('cluster.nats.password_env: set cluster.nats.user too');
  }
  if (cfg.token_env !== undefined) opts.token = requireEnv(env, cfg.token_env, 'cluster.nats.token_env');
  if (cfg.creds_file !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(cfg.creds_file);
    } catch (err) {
      throw new Error(`cluster.nats.creds_file: cannot read ${cfg.creds_file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    opts.authenticator = nats().credsAuthenticator(creds);
  }
  if (cfg.tls === true) opts.tls = {};
  else if (typeof cfg.tls === 'object') {
    const t: TlsOptions = {};
    if (cfg.tls.ca_file !== undefined) t.caFile = cfg.tls.ca_file;
    if (cfg.tls.cert_file !== undefined) t.certFile = cfg.tls.cert_file;
    if (cfg.tls.key_file !== undefined) t.keyFile = cfg.tls.key_file;
    opts.tls = t;
  }
  return opts;
}

function requireEnv(env: NodeJS.ProcessEnv, name: string, path: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`${path}: environment variable ${shownEnvName(name)} is not set`);
  return v;
}
