// POST /policy and GET /policy with `cluster.policy.source: file`. Without NATS the policy in the body
// replaces the file's policy on this instance — every worker or none through the primary, exactly as a
// reload — until the next file reload; with NATS each member reads its own file, so POST is refused.
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { combinePolicy, extractPolicy, policyDigest, readConfigText, type Config } from '../../node/config/index.js';
import { parseYaml, preparePolicy } from './policy-document.js';
import { combinedText } from './policy-serve.js';

/** Apply a validated full config (its text is what workers get); answers like POST /reload. */
export type LocalApply = (text: string, config: Config) => Promise<{ status: number; body: unknown }>;

const filePolicy = (current: () => Config): AdminHandler => async () => ({ status: 200, body: { source: 'file', digest: policyDigest(extractPolicy(current())) } });

/**
 * A NATS member with `source: file`: GET /policy gives the running policy's digest as without NATS;
 * POST /policy answers 409 (applied here alone, it would set this member apart from the others).
 */
export function filePolicyRoutes(current: () => Config): Record<string, AdminHandler> {
  return {
    'GET /policy': filePolicy(current),
    'POST /policy': async () => ({ status: 409, body: { applied: false, error: 'conflict', message: 'this member takes its policy from its config file (cluster.policy.source: file): edit the file and reload; POST /policy publishes a version only with cluster.policy.source: cluster' } }),
  };
}

export function localPolicyRoutes(configPath: string, current: () => Config, apply: LocalApply): Record<string, AdminHandler> {
  return {
    'GET /policy': filePolicy(current),
    'POST /policy': async (_req, body) => {
      const read = readConfigText(configPath);
      if (!read.ok) return { status: 422, body: { applied: false, errors: read.errors } };
      const file = parseYaml(read.text);
      if (!file.ok) return { status: 422, body: { applied: false, errors: file.errors } };
      const parsed = parseYaml(body);
      if (!parsed.ok) return { status: 422, body: { applied: false, errors: parsed.errors } };
      const p = preparePolicy(file.raw, parsed.raw);
      if (!p.ok) return { status: 422, body: { applied: false, errors: p.errors } };
      const full = combinePolicy(file.raw, p.policy, { env: process.env });
      if (!full.ok) return { status: 422, body: { applied: false, errors: full.errors } };
      const r = await apply(combinedText(file.raw, JSON.stringify(p.policy)), full.config);
      const b = (r.body ?? {}) as Record<string, unknown>;
      return { status: r.status, body: r.status === 200 ? { applied: true, digest: policyDigest(p.policy), version: b.version } : { applied: false, ...b } };
    },
  };
}
