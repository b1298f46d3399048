// The admin listener's two credentials, read from the environment the config names: the admin
// token (every endpoint) and the optional read-only metrics token (GET /metrics only).

/** `admin.token_env` / `admin.metrics_token_env` values from `env`; a name unset (or not configured) gives undefined. */
export function adminTokens(admin: { token_env?: string | undefined; metrics_token_env?: string | undefined }, env: NodeJS.ProcessEnv = process.env): { token: string | undefined; metricsToken: string | undefined } {
  return {
    token: admin.token_env !== undefined ? env[admin.token_env] : undefined,
    metricsToken: admin.metrics_token_env !== undefined ? env[admin.metrics_token_env] : undefined,
  };
}
