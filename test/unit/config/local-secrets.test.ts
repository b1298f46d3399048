// A policy field (`issuers`, `upstreams`, `routes`, `dpop`, `internal_tokens`…) naming a variable or a
// file the local part reads for the instance's own secrets (admin token, bus key, NATS credentials,
// listener TLS key) is a config error at its path, with or without an environment to check.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';

const base = (introSecretEnv: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  admin: { token_env: 'T_ADMIN', metrics_token_env: 'T_METRICS' },
  cluster: { nats: { servers: ['nats://127.0.0.1:4222'], token_env: 'T_NATS' }, auth: { key_env: 'T_BUS', previous_key_file: '/etc/portcullis/old-bus.key' } },
  issuers: { main: { issuer: 'https://as.example', audiences: ['api'], introspection: { client_id: 'c', client_secret_env: introSecretEnv } } },
  upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
  routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app', auth: {} }],
  ...extra,
});

const errorsOf = (doc: Record<string, unknown>): unknown[] => {
  const r = validateConfig(doc);
  return r.ok ? [] : r.errors;
};

describe('a policy naming the instance\'s own secrets', () => {
  it('an introspection client secret read from the bus key, the admin, metrics or NATS token variable is refused at its path', () => {
    for (const [name, local] of [['T_BUS', 'cluster.auth.key_env'], ['T_ADMIN', 'admin.token_env'], ['T_METRICS', 'admin.metrics_token_env'], ['T_NATS', 'cluster.nats.token_env']]) {
      expect(errorsOf(base(name!))).toEqual([{
        path: 'issuers.main.introspection.client_secret_env',
        message: `names the variable ${name}, which ${local} names: the instance's own secret is not the policy's to read (it would be sent to the endpoint the policy names); give this field its own variable`,
      }]);
    }
  });

  it('a variable of its own is fine; so is a local field sharing a name with another local one (not the policy\'s business)', () => {
    expect(errorsOf(base('T_INTRO'))).toEqual([]);
  });

  it('a policy file field naming a local file (the old bus key as internal_tokens.key_file, any spelling of its path) is refused', () => {
    expect(errorsOf(base('T_INTRO', { internal_tokens: { issuer: 'https://p.example', key_file: '/etc/portcullis/../portcullis/old-bus.key' } }))).toEqual([{
      path: 'internal_tokens.key_file',
      message: "names the file /etc/portcullis/../portcullis/old-bus.key, which cluster.auth.previous_key_file names: the instance's own secret is not the policy's to read (it would be sent to the endpoint the policy names); give this field its own file",
    }]);
  });

  it('a name that may be a pasted secret is not shown', () => {
    const pasted = 'q7Lr2xVbq7Lr2xVbq7Lr2xVbq7Lr2xVb';
    const errors = errorsOf(base(pasted, { admin: { token_env: pasted } })) as Array<{ path: string; message: string }>;
    expect(errors.map((e) => e.path)).toEqual(['issuers.main.introspection.client_secret_env']);
    expect(JSON.stringify(errors)).not.toContain(pasted);
  });
});
