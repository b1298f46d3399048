// POST /policy and GET /policy without NATS (`cluster.policy.source: file`, no `cluster.nats`):
// the policy in the body replaces the file's policy on this instance — every worker or none
// through the primary, exactly as a reload — until the next file reload.
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { combinePolicy, extractPolicy, policyDigest, readConfigText, type Config } from '../../node/config/index.js';
import { parseYaml, preparePolicy } from './policy-document.js';
import { combinedText } from './policy-serve.js';

/** Apply a validated full config (its text is what workers get); answers like POST /reload. */
export type LocalApply = (text: string, config: Config) => Promise<{ status: number; body: unknown }>;

export function localPolicyRoutes(configPath: string, current: () => Config, apply: LocalApply): Record<string, AdminHandler> {
  return {
    'GET /policy': async () => ({ status: 200, body: { source: 'file', digest: policyDigest(extractPolicy(current())) } }),
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
