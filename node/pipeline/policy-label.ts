// The name of the policy one snapshot enforces, computed once per snapshot (never per
// request): the access log's `policy` field and, with `cluster.policy.response_header`, the
// `X-Portcullis-Policy` response header (README: Cluster policy).
import { extractPolicy, policyDigest, type Config } from '../config/index.js';
import type { PolicyVersion } from '../contracts/index.js';

/** Lower-case, as uWS writes names verbatim (HTTP field names are case-insensitive). */
export const POLICY_HEADER = 'x-portcullis-policy';

/** Hex digits of the digest shown: 48 bits, enough to tell versions apart at a glance. */
const SHORT = 12;

/**
 * `v12 sha256:0a1b2c3d4e5f` for cluster policy version 12; `config-3 sha256:…` for a
 * single-file instance (config version 3: 1 at start, +1 per committed reload), the digest
 * then taken of the validated config's policy part (as `GET /policy` reports it).
 */
export function policyLabel(config: Config, configVersion: number, cluster: PolicyVersion | null): string {
  if (cluster !== null) return `v${cluster.version} sha256:${cluster.digest.slice(0, SHORT)}`;
  return `config-${configVersion} sha256:${policyDigest(extractPolicy(config)).slice(0, SHORT)}`;
}
