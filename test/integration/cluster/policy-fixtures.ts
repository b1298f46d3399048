// Shared pieces of the cluster policy suites: an instance config whose policy comes from the
// cluster (local part only), policy documents, the `portcullis policy` CLI and a bearer call.
import { expect } from 'vitest';
import { request } from 'undici';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, runCli, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.js';

export const ENV = { ...ADMIN_ENV, ...BUS_ENV };

/**
 * A heartbeat period for suites whose members need not beat at the default 1 s: each start then waits
 * 1.5 × 200 ms for its peers' versions and its member view instead of 1.5 s. Not for configs an older build
 * reads (test/upgrade): it refuses the key.
 */
export const QUICK_BEAT = { heartbeat_ms: 200 } as const;

/** The local part of an instance: listeners, admin, the bus (`cluster` adds to its section), `cluster.policy.source: cluster`. */
export function localConfig(natsUrls: readonly string[], prefix: string, policy: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    cluster: { nats: { servers: [...natsUrls] }, subject_prefix: prefix, auth: BUS_AUTH, start_timeout_ms: 1_000, ...cluster, policy: { source: 'cluster', ...policy } },
    log: { level: 'info', access: false },
    ...extra,
  };
}

/** A policy: one issuer, one upstream, `/api/*` needing a token (and `scopes` when given), `/open/*` without. */
export function policyDoc(issuer: string, upstream: string, opts: { scopes?: string[]; extra?: Record<string, unknown>; routes?: unknown[] } = {}): Record<string, unknown> {
  return {
    issuers: { demo: { issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: opts.routes ?? [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: opts.scopes === undefined ? {} : { scopes: { all: opts.scopes } } },
      { name: 'open', match: { path: '/open/*' }, upstream: 'app', auth: 'none' },
    ],
    verifier: { pool_size: 1 },
    ...(opts.extra ?? {}),
  };
}

/** A policy whose `/api/*` needs no token at all (the rollback suites' version 1: what a replay must not bring back). */
export function openPolicyDoc(issuer: string, upstream: string): Record<string, unknown> {
  return policyDoc(issuer, upstream, { routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: 'none' }] });
}

/** `portcullis policy push` each document in turn (versions 1, 2, … of a fresh bucket); every push must exit 0. */
export async function pushPolicies(cliConfig: string, docs: readonly unknown[]): Promise<void> {
  for (const doc of docs) {
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(doc)]);
    expect(r.code, r.stderr).toBe(0);
  }
}

/** Write a policy document to a temp file. */
export function writePolicy(doc: unknown): string {
  return writeConfig(doc);
}

/**
 * `portcullis policy <args>` with the test's bus key. `hangMs`: when the CLI is killed as hung (a guard,
 * not a promise: a push of thousands of routes takes seconds of CPU, tens of seconds on a busy machine).
 */
export function policyCli(args: string[], env: Record<string, string> = {}, hangMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['policy', ...args], { ...ENV, ...env }, hangMs);
}

/** GET `path` on the proxy with a bearer token; the status code. */
export async function statusOf(p: ProxyProcess, path: string, token?: string): Promise<number> {
  const r = await request(`${p.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  await r.body.dump();
  return r.statusCode;
}

/** /readyz of a proxy: status and body. */
export async function readyz(adminUrl: string): Promise<{ status: number; body: any }> {
  const r = await request(`${adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: r.statusCode, body: await r.body.json().catch(() => null) };
}
