// A policy as an operator writes it (YAML or JSON: a policy-only file, the policy keys of a full
// config, or an admin request body) turned into the document that is published: validated
// completely with the pusher's local part (every error with its path), defaults filled in.
import { combinePolicy, parseYamlText, extractPolicy, foreignPolicyKeys, splitDocument, type ConfigProblem, type PolicyDocument } from '../../node/config/index.js';

/** Parse YAML/JSON text (the config's caps: size, nesting, aliases, numbers); errors name their line or path. */
export function parseYaml(text: string): { ok: true; raw: unknown } | { ok: false; errors: ConfigProblem[] } {
  return parseYamlText(text);
}

/**
 * The policy to publish: `policyRaw` (policy keys only; other keys are errors) checked with the
 * local part of `localRaw` by the full schema. The environment is not checked here: each
 * instance checks the secrets a version names in its own environment before applying it.
 */
export function preparePolicy(localRaw: unknown, policyRaw: unknown): { ok: true; policy: PolicyDocument } | { ok: false; errors: ConfigProblem[] } {
  const foreign = foreignPolicyKeys(policyRaw);
  if (foreign.length > 0) return { ok: false, errors: foreign };
  const r = combinePolicy(splitDocument(localRaw).local, policyRaw, { env: null, refuseHiddenRoutes: true });
  return r.ok ? { ok: true, policy: extractPolicy(r.config) } : r;
}
