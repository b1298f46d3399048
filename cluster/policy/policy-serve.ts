// `serve` with `cluster.policy.source: cluster`: wait for the policy before binding the proxy
// port (the admin listener answers /readyz 503 saying why meanwhile), then wire the watcher
// into the running instance: readiness, GET/POST /policy, and a reload from the file that
// takes only the file's local part and keeps the cluster's policy.
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { AdminServer, adminTokens } from '../../node/admin/admin-server.js';
import { combinePolicy, readConfigText, splitDocument, type Config, type ConfigResult, type PolicyDocument } from '../../node/config/index.js';
import type { ClusterStatus } from '../../node/contracts/index.js';
import type { Logger } from '../../node/log.js';
import { parseYaml } from './policy-document.js';
import type { CheckedEntry } from './policy-messages.js';
import { policyAdminRoutes, type PeerView } from './policy-admin.js';
import { warmCheckEntry } from './policy-validate.js';
import { PolicyWatcher } from './policy-watcher.js';

/**
 * Start the watcher and wait for the config to start with (latest version, or the state file's).
 * Meanwhile the admin listener of `localConfig` answers /readyz 503 with the reason and GET /policy;
 * the proxy port stays closed (fail closed). The placeholder listener is closed before resolving.
 */
export async function waitForPolicy(localConfig: Config, localRaw: unknown, logger: Logger): Promise<{ watcher: PolicyWatcher; config: Config }> {
  const watcher = new PolicyWatcher({ config: localConfig, localRaw, logger: logger.child({ component: 'policy' }) });
  const first = watcher.start();
  const placeholder = new AdminServer({
    host: localConfig.admin.listen.host,
    port: localConfig.admin.listen.port,
    maxConnections: localConfig.admin.max_connections,
    ...adminTokens(localConfig.admin),
    logger,
    readiness: () => watcher.readiness(),
    metrics: async () => '',
    routes: { 'GET /policy': async () => ({ status: 200, body: watcher.status() }) },
  });
  await placeholder.listen();
  const waiting = setInterval(() => { const w = watcher.waitingFor(); if (w !== null) logger.warn({ reason: w, adminPort: placeholder.port }, 'not ready: waiting for the cluster policy'); }, 5_000);
  waiting.unref();
  logger.info({ adminPort: placeholder.port, bucket: watcher.bucket }, 'waiting for the cluster policy');
  const config = await first;
  // not ready yet: the check path is warmed with the start version, so the first pushes are not the slow ones
  const start = watcher.current();
  if (start !== null) {
    const t0 = performance.now();
    const w = await warmCheckEntry(localRaw, start);
    logger.info({ rounds: w.rounds, where: w.where, ms: Math.round(performance.now() - t0) }, 'policy: check path warmed with the start version');
  }
  clearInterval(waiting);
  await placeholder.close();
  return { watcher, config };
}

/** The instance's cluster readiness with the policy's (ready only when both are); `busConnected`: the member's bus. */
export function withPolicyReadiness(cluster: ClusterStatus | null | undefined, watcher: PolicyWatcher, busConnected: () => boolean): ClusterStatus {
  return {
    readiness: () => {
      const c = cluster?.readiness() ?? { ready: true, detail: {} };
      const p = watcher.readiness(busConnected());
      return { ready: c.ready && p.ready, detail: { ...c.detail, ...p.detail } };
    },
    stats: () => cluster?.stats() ?? {},
  };
}

/**
 * The file's local part (re-read now) with a cluster policy version, validated with this
 * environment. `active`: the version the instance runs — default the watcher's; with workers the
 * version the primary last committed to them, which the watcher names only a moment later.
 */
export function reloadLocalPart(configPath: string, watcher: PolicyWatcher, active: CheckedEntry | null = watcher.current()): ConfigResult & { text?: string; raw?: unknown } {
  const read = readConfigText(configPath);
  if (!read.ok) return read;
  const parsed = parseYaml(read.text);
  if (!parsed.ok) return parsed;
  const policy = active === null ? null : active === watcher.current() ? watcher.currentPolicy() : JSON.parse(active.policyJson) as PolicyDocument;
  if (active === null || policy === null) return { ok: false, errors: [{ path: '(policy)', message: 'no cluster policy applied yet' }] };
  const r = combinePolicy(parsed.raw, policy, { env: process.env });
  return r.ok ? { ...r, text: combinedText(parsed.raw, active.policyJson), raw: parsed.raw } : r;
}

/**
 * Version `entry` with the file's local part the instance runs now, and the text workers get:
 * `config` as checked while no file reload committed since the check (`checkedWith` is still the
 * watcher's local part), else validated again with the reloaded one — a version must not undo it.
 */
export function withLocalPartNow(watcher: PolicyWatcher, entry: CheckedEntry, config: Config, checkedWith: unknown): ConfigResult & { text?: string } {
  const raw = watcher.localRaw;
  const text = combinedText(raw, entry.policyJson);
  if (raw === checkedWith) return { ok: true, config, text };
  const r = combinePolicy(raw, JSON.parse(entry.policyJson), { env: process.env });
  return r.ok ? { ...r, text } : r;
}

/** GET/POST /policy for a process that owns the watcher; `peers`: its member's heartbeat view (GET /policy lists their status). */
export function policyRoutes(watcher: PolicyWatcher, memberId: string, peers?: () => readonly PeerView[]): Record<string, AdminHandler> {
  return policyAdminRoutes(watcher, memberId, peers);
}

/** The text a worker boots with: the file's local part and the active policy, as JSON (which is YAML). */
export function combinedText(localRaw: unknown, policyJson: string | undefined): string {
  // the two parts have no key in common: splice the policy's members into the local object
  const local = JSON.stringify(splitDocument(localRaw).local);
  if (policyJson === undefined || policyJson === '{}') return local;
  return local === '{}' ? policyJson : `${local.slice(0, -1)},${policyJson.slice(1)}`;
}
