// A path parameter named `__proto__` (`/users/:__proto__`) was accepted: the route's parameters are a
// plain object, where that name sets the prototype instead of a parameter, so `equals_param: __proto__`
// never read the request's value and refused every request with 403 — a policy that could never pass,
// and nothing said why. check-config (and serve) now refuse the name with its path.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../../helpers/proxy-process.js';
import { removeTempDirs } from '../../helpers/temp-dirs.js';

afterAll(() => removeTempDirs());

const config = (param: string) => writeConfig({
  server: { listen: { host: '127.0.0.1', port: 18080 } },
  admin: { listen: { host: '127.0.0.1', port: 9901 } },
  issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['a'] } },
  upstreams: { svc: { targets: ['http://127.0.0.1:18081'] } },
  routes: [{ name: 'svc', match: { path: `/users/:${param}/*` }, upstream: 'svc', auth: { claims: [{ claim: 'sub', equals_param: param }] } }],
});

describe('a path parameter name that is JavaScript object machinery', () => {
  it('is refused by check-config with the route\'s path', async () => {
    // before: "ok: …", exit 0
    const r = await runCli(['check-config', '--no-env', config('__proto__')]);
    expect(r.code).toBe(2);
    expect(`${r.stdout}${r.stderr}`).toMatch(/routes\[0\]\.match\.path: .*__proto__/);
  });

  it('leaves other names alone', async () => {
    const r = await runCli(['check-config', '--no-env', config('user_id')]);
    expect(`${r.stdout}${r.stderr}`).toContain('ok');
    expect(r.code).toBe(0);
  });
});
