// A config that sends the proxy's own credentials over plain http beyond loopback — a client secret to
// a token or introspection endpoint (configured, or discovered over http), a client-credentials or
// exchanged token to an http upstream target, an SSF poll or management Authorization — is warned about by check-config (stderr, exit 0) and
// by serve at start (a warn log line naming the path). Before, nothing said so: the secret just went.
import { describe, expect, it } from 'vitest';
import { baseConfig, runCli, startProxy, writeConfig } from '../../helpers/proxy-process.js';

const SECRET_ENV = { PT_CC_SECRET: 'cc-secret-value-never-shown' };
const cc = (over: Record<string, unknown>) => ({ issuer: 'https://auth.example.test', client_id: 'orders', client_secret_env: 'PT_CC_SECRET', ...over });

function egressConfig(target: string, ccOver: Record<string, unknown>, issuers: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(target, {
    issuers,
    upstreams: { billing: { targets: [target], client_credentials: cc(ccOver) } },
    routes: [{ name: 'billing', match: { path: '/billing/*' }, upstream: 'billing', auth: 'none' }],
  });
}

const checkConfig = (cfg: unknown) => runCli(['check-config', '--no-env', writeConfig(cfg)]);

describe('credentials over plain http beyond loopback', () => {
  it('check-config warns about a client-credentials token endpoint on plain http, naming the path and host (never the secret)', async () => {
    const r = await checkConfig(egressConfig('https://billing.example.test', { token_endpoint: 'http://auth.example.test/token' }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: upstreams\.billing\.client_credentials\.token_endpoint: .*plain http.*auth\.example\.test/);
    expect(r.stderr).not.toContain('cc-secret-value');
  });

  it('check-config warns when the token endpoint would be discovered over plain http (issuer named under issuers:)', async () => {
    const issuers = { corp: { issuer: 'http://sso.example.test/realms/main', audiences: ['billing'] } };
    const r = await checkConfig(egressConfig('https://billing.example.test', { issuer: 'corp' }, issuers));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: upstreams\.billing\.client_credentials\.issuer: .*discovered over plain http.*sso\.example\.test/);
  });

  it('check-config warns about an egress token sent to a plain-http upstream target, and about an introspection secret', async () => {
    const issuers = { corp: { issuer: 'https://sso.example.test', audiences: ['billing'], introspection: { endpoint: 'http://sso.example.test/introspect', client_id: 'p', client_secret_env: 'PT_CC_SECRET' } } };
    const r = await checkConfig(egressConfig('http://billing.example.test:8080', { token_endpoint: 'https://auth.example.test/token' }, issuers));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: upstreams\.billing\.targets: routes\[0\] attaches a client-credentials token .*plain http.*billing\.example\.test:8080/);
    expect(r.stderr).toMatch(/warning: issuers\.corp\.introspection\.endpoint: .*plain http.*sso\.example\.test/);
    expect(r.stderr).not.toMatch(/token_endpoint/);
  });

  it('check-config warns about an SSF poll endpoint and stream management over plain http', async () => {
    const cfg = baseConfig('http://127.0.0.1:9', {
      event_sources: { idp: {
        issuer: 'http://ssf.example.test', audiences: ['https://proxy.example/ssf'],
        poll: { endpoint: 'http://ssf.example.test/poll', authorization_env: 'PT_CC_SECRET' }, stream: { authorization_env: 'PT_CC_SECRET' },
      } },
    });
    const r = await checkConfig(cfg);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: event_sources\.idp\.poll\.endpoint: .*plain http.*ssf\.example\.test/);
    expect(r.stderr).toMatch(/warning: event_sources\.idp\.issuer: .*plain http.*ssf\.example\.test/);
  });

  it('no warning for https endpoints and targets, nor for plain http on loopback', async () => {
    for (const [target, endpoint] of [['https://billing.example.test', 'https://auth.example.test/token'], ['http://127.0.0.1:9', 'http://localhost:9/token']] as const) {
      const r = await checkConfig(egressConfig(target, { token_endpoint: endpoint }));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('warning');
    }
  });

  it('serve logs the warning at start, naming the path', async () => {
    const proxy = await startProxy(egressConfig('https://billing.example.test', { token_endpoint: 'http://auth.example.test/token' }), { env: SECRET_ENV });
    try {
      const warned = proxy.logs().filter((l) => l.path === 'upstreams.billing.client_credentials.token_endpoint');
      expect(warned.length, proxy.output()).toBeGreaterThan(0);
      expect(String(warned[0]!.msg)).toMatch(/plain http/);
      expect(proxy.output()).not.toContain('cc-secret-value');
    } finally {
      await proxy.stop();
    }
  });
});
