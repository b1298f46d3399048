// Which top-level keys of portcullis.yaml are cluster policy (the same on every instance); every
// other key is local to an instance. Its own module so the environment check can read it too.

/** Top-level keys of the policy. Everything else (server, admin, cluster, log, version, tracing, event_sources) stays local. */
export const POLICY_KEYS = ['issuers', 'identity', 'dpop', 'upstreams', 'routes', 'internal_tokens', 'verifier'] as const;
export type PolicyKey = (typeof POLICY_KEYS)[number];

/** Whether `k` is a policy key. */
export const isPolicyKey = (k: string): k is PolicyKey => (POLICY_KEYS as readonly string[]).includes(k);
