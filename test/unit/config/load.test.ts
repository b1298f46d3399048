// Config loading: every error at once, each with its path and what was expected;
// unknown keys refused, removed keys name their replacement, YAML syntax errors
// carry a line; a valid config comes back deep-frozen with defaults filled in.
import { describe, it, expect } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isMap, isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { configSchema, loadConfigFile, parseConfigText, validateConfig, formatProblems, type ConfigResult } from '../../../node/config/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { orders: { targets: ['http://127.0.0.1:3001'] }, users: { targets: ['http://127.0.0.1:3002'] } },
    routes: [
      { name: 'orders', match: { path: '/orders/*' }, upstream: 'orders', auth: 'none' },
      { name: 'users', match: { path: '/users/:id' }, upstream: 'users', auth: 'none' },
      { name: 'typo', match: { path: '/o/*' }, upstream: 'ordrs', auth: 'none' },
    ],
    ...extra,
  };
}

function errors(r: ConfigResult): string[] {
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('config: cross references', () => {
  it('names the unknown upstream, its path and the known ones', () => {
    expect(errors(validateConfig(base()))).toEqual(['routes[2].upstream: unknown upstream "ordrs" (known: orders, users)']);
  });

  it('a name found only on Object.prototype is unknown (before: `constructor` passed check-config and serve crashed at start)', () => {
    const cfg = base({ issuers: { demo: { issuer: 'https://as.example', audiences: ['x'], jwks_uri: 'https://as.example/jwks' } } });
    const routes = cfg.routes as Array<Record<string, unknown>>;
    routes[2] = { name: 'typo', match: { path: '/o/*' }, upstream: 'constructor', auth: { issuers: ['toString'] } };
    expect(errors(validateConfig(cfg))).toEqual([
      'routes[2].upstream: unknown upstream "constructor" (known: orders, users)',
      'routes[2].auth.issuers[0]: unknown issuer (value not shown: it may be a secret) (known: demo)',
    ]);
  });

  it('route without auth is refused: "none" must be explicit', () => {
    const cfg = base();
    (cfg.routes as Array<Record<string, unknown>>).splice(2, 1);
    delete (cfg.routes as Array<Record<string, unknown>>)[1]!.auth;
    expect(errors(validateConfig(cfg))).toEqual([expect.stringMatching(/^routes\[1\]\.auth: required: "none" or an auth block/)]);
  });

  it('duplicate route names, unknown issuers, bad patterns and strip_prefix are all reported', () => {
    const cfg = {
      issuers: { kc: { issuer: 'https://kc', audiences: ['api'] } },
      upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
      routes: [
        { name: 'a', match: { path: '/a/*/b' }, upstream: 'u', auth: 'none' },
        { name: 'a', match: { path: '/x/:id' }, upstream: 'u', auth: { issuers: ['kc', 'kk'], claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
        { name: 'c', match: { path: '/c/*' }, upstream: 'u', auth: 'none', strip_prefix: '/d' },
      ],
    };
    const e = errors(validateConfig(cfg));
    expect(e).toContain('routes[0].match.path: a * wildcard is only allowed as the last segment (/api/*)');
    expect(e).toContain('routes[1].name: duplicate route name "a"');
    expect(e).toContain('routes[1].auth.issuers[1]: unknown issuer "kk" (known: kc)');
    expect(e).toContain('routes[1].auth.claims[0].equals_param: path "/x/:id" has no parameter :tenant');
    expect(e).toContain('routes[2].strip_prefix: "/d" is not a prefix of the route path "/c/*"');
    expect(e).toHaveLength(5);
  });

  it('route patterns: literals of unreserved characters only, no ;, so every upstream family reads them alike', () => {
    const cfg = {
      upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
      routes: [
        { name: 'a', match: { path: '/users/@me' }, upstream: 'u', auth: 'none' },
        { name: 'b', match: { path: '/cars;v=1/*' }, upstream: 'u', auth: 'none' },
        { name: 'c', match: { path: '/a:b/x' }, upstream: 'u', auth: 'none' },
        { name: 'ok', match: { path: '/Api/v1.0/~me/:id/*' }, upstream: 'u', auth: 'none' },
      ],
      server: { paths: { upstream_readings: ['case', 'dots'] } },
    };
    const e = errors(validateConfig(cfg));
    expect(e).toContainEqual(expect.stringMatching(/^routes\[0\]\.match\.path: literal segments are letters, digits and - \. _ ~ only \("@me"\)/));
    expect(e).toContainEqual(expect.stringMatching(/^routes\[1\]\.match\.path: no ; in patterns/));
    expect(e).toContainEqual(expect.stringMatching(/^routes\[2\]\.match\.path: literal segments are letters, digits and - \. _ ~ only \("a:b"\)/));
    expect(e).toContainEqual(expect.stringMatching(/^server\.paths\.upstream_readings\[1\]: /));
    expect(e).toHaveLength(4);
  });

  it('two issuers with the same issuer string and an audience in common are refused (which verifies was an accident of order); disjoint audiences pass', () => {
    const idp = (audiences: string[], algorithms: string[]): Record<string, unknown> => ({ issuer: 'https://kc', audiences, algorithms, jwks_uri: 'https://kc/jwks' });
    const cfg = (second: string[]): Record<string, unknown> => ({
      issuers: { strict: idp(['api', 'web'], ['ES256']), lax: idp(second, ['RS256']) },
      upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
      routes: [{ name: 'a', match: { path: '/a/*' }, upstream: 'u', auth: {} }],
    });
    expect(errors(validateConfig(cfg(['web', 'mobile'])))).toEqual([
      'issuers.lax.audiences: issuer "strict" has the same issuer "https://kc" and audience "web", and route "a" accepts both: which of the two verifies such a token would depend on their order (give each its own audiences, name one in the route\'s auth.issuers, or merge them)',
    ]);
    expect(validateConfig(cfg(['mobile'])).ok).toBe(true);
  });

  it('one issuer string and audience under two names, each accepted on its own routes (auth.issuers), stays allowed: no route leaves the choice to their order (regression)', () => {
    const idp = (algorithms: string[]): Record<string, unknown> => ({ issuer: 'https://kc', audiences: ['api'], algorithms, jwks_uri: 'https://kc/jwks' });
    const cfg = (publicIssuers?: string[]): Record<string, unknown> => ({
      issuers: { strict: idp(['ES256']), lax: idp(['RS256']) },
      upstreams: { u: { targets: ['http://127.0.0.1:1'] } },
      routes: [
        { name: 'admin', match: { path: '/admin/*' }, upstream: 'u', auth: { issuers: ['strict'] } },
        { name: 'public', match: { path: '/public/*' }, upstream: 'u', auth: publicIssuers === undefined ? {} : { issuers: publicIssuers } },
        { name: 'health', match: { path: '/health' }, upstream: 'u', auth: 'none' },
      ],
    });
    // before, refused whatever the routes said: a strict and a lax policy of one IdP, one per route, could not start
    expect(validateConfig(cfg(['lax']))).toMatchObject({ ok: true });
    // a route naming both, or none (every issuer), leaves it to their order: refused
    expect(errors(validateConfig(cfg(['strict', 'lax'])))).toHaveLength(1);
    expect(errors(validateConfig(cfg()))[0]).toMatch(/^issuers\.lax\.audiences: .*route "public" accepts both/);
  });

  it('a route requiring a token without any issuer is refused', () => {
    const cfg = base();
    (cfg.routes as Array<Record<string, unknown>>)[2] = { name: 'p', match: { path: '/p' }, upstream: 'orders', auth: { scopes: { all: ['x'] } } };
    expect(errors(validateConfig(cfg))).toEqual(['routes[2].auth: route requires a token but no issuers are configured']);
  });
});

describe('config: schema errors', () => {
  it('unknown keys are errors, at any depth, with their path', () => {
    const cfg = base({ server: { listne: { port: 1 } }, log: { levle: 'debug' } });
    (cfg.upstreams as Record<string, Record<string, unknown>>).orders!.timeouts = { conect_ms: 100 };
    const e = errors(validateConfig(cfg));
    expect(e).toContain('server.listne: unknown key (check the spelling; unknown keys are refused)');
    expect(e).toContain('log.levle: unknown key (check the spelling; unknown keys are refused)');
    expect(e).toContain('upstreams.orders.timeouts.conect_ms: unknown key (check the spelling; unknown keys are refused)');
  });

  it('removed keys name their replacement; inline secrets are refused', () => {
    const cfg = base({
      server: { port: 8080, host: '0.0.0.0' },
      admin: { token: 'inline-secret' },
      issuers: { kc: { issuer: 'https://kc', audiences: ['api'], introspection: { client_id: 'p', client_secret: 'inline', client_secret_env: 'S' } } },
    });
    const e = errors(validateConfig(cfg));
    expect(e).toContain('server.port: removed key; use server.listen.port');
    expect(e).toContain('server.host: removed key; use server.listen.host');
    expect(e).toContain('admin.token: removed key; use admin.token_env (secrets are read from the environment)');
    expect(e).toContain('issuers.kc.introspection.client_secret: removed key; use issuers.*.introspection.client_secret_env');
    // and the cross-reference error from the same file, in the same run
    expect(e).toContain('routes[2].upstream: unknown upstream "ordrs" (known: orders, users)');
    expect(e.join('\n')).not.toContain('inline-secret');
  });

  it('wrong types and ranges say what was expected', () => {
    const cfg = base({ server: { workers: 0, limits: { max_body_bytes: 'big' } } });
    (cfg.routes as Array<Record<string, unknown>>)[0]!.timeout_ms = 'fast';
    (cfg.upstreams as Record<string, Record<string, unknown>>).users!.targets = ['ftp://127.0.0.1'];
    const e = errors(validateConfig(cfg));
    expect(e).toContain('server.limits.max_body_bytes: expected number, got string');
    expect(e).toContain('routes[0].timeout_ms: expected number, got string');
    expect(e).toContain('upstreams.users.targets[0]: an http:// or https:// URL');
    // one bad value, one message
    expect(e.filter((x) => x.startsWith('upstreams.users.targets[0]'))).toHaveLength(1);
    const notUrl = errors(validateConfig(base({ upstreams: { orders: { targets: ['not a url'] }, users: { targets: ['http://ok:1'] } } })));
    expect(notUrl.filter((x) => x.startsWith('upstreams.orders.targets[0]'))).toEqual(['upstreams.orders.targets[0]: an http:// or https:// URL']);
    expect(e.some((x) => x.startsWith('server.workers: '))).toBe(true);
  });

  const ROUTES = [{ name: 'a', match: { path: '/*' }, upstream: 'a', auth: 'none' }];
  it('issuers.*.introspection.per_client_max: optional places, 0 (off) or more, an integer; each error with its path', () => {
    const ok = { upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES };
    const withMax = (v: unknown) => ({ ...ok, issuers: { kc: { issuer: 'https://kc', audiences: ['api'], introspection: { client_id: 'p', client_secret_env: 'S', per_client_max: v } } } });
    for (const v of [0, 1, 32, 101_024]) expect(validateConfig(withMax(v)).ok, String(v)).toBe(true);
    for (const v of [-1, 1.5, 'half', 101_025]) {
      const e = errors(validateConfig(withMax(v)));
      expect(e, String(v)).toHaveLength(1);
      expect(e[0]).toMatch(/^issuers\.kc\.introspection\.per_client_max: /);
    }
  });
  it('cluster.member_id is one bus subject token: a dot used to pass check-config and stop serve at its start', () => {
    const ok = { upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES };
    expect(validateConfig({ ...ok, cluster: { member_id: 'proxy-a_1' } }).ok).toBe(true);
    for (const id of ['proxy.a', 'a*', '>', '', 'x'.repeat(65)]) {
      expect(errors(validateConfig({ ...ok, cluster: { member_id: id } })), id).toEqual(['cluster.member_id: 1 to 64 letters, digits, _ and - (one bus subject token)']);
    }
  });
  it('cluster.heartbeat_ms: default 1000 ms, 100–10000, an integer; each error with its path', () => {
    const ok = { upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES };
    const d = validateConfig(ok);
    expect(d.ok && d.config.cluster.heartbeat_ms).toBe(1_000);
    for (const v of [100, 200, 10_000]) {
      const r = validateConfig({ ...ok, cluster: { heartbeat_ms: v } });
      expect(r.ok && r.config.cluster.heartbeat_ms, String(v)).toBe(v);
    }
    expect(errors(validateConfig({ ...ok, cluster: { heartbeat_ms: 99 } }))).toEqual(['cluster.heartbeat_ms: at least 100 ms: every member beats to every other once a period']);
    expect(errors(validateConfig({ ...ok, cluster: { heartbeat_ms: 10_001 } }))).toEqual(['cluster.heartbeat_ms: at most 10000 ms: peers believe a declared period up to 10 s']);
    for (const v of [150.5, '1000', null]) expect(errors(validateConfig({ ...ok, cluster: { heartbeat_ms: v } })), String(v)).toEqual([expect.stringMatching(/^cluster\.heartbeat_ms: /)]);
  });
  it('X-Forwarded-For keep is refused without trust_forwarded, with its path; append is the default', () => {
    expect(errors(validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES, server: { forwarded: { x_forwarded_for: 'keep' } } })))
      .toEqual([expect.stringMatching(/^server\.forwarded\.x_forwarded_for: keep passes the client's X-Forwarded-For unchanged/)]);
    expect(errors(validateConfig(base({ server: { forwarded: { x_forwarded_for: 'drop' } } }))).some((x) => x.startsWith('server.forwarded.x_forwarded_for: '))).toBe(true);
    const ok = validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES, server: { trust_forwarded: true, forwarded: { x_forwarded_for: 'keep' } } });
    expect(ok.ok).toBe(true);
    const dflt = validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES });
    expect(dflt.ok && dflt.config.server.forwarded.x_forwarded_for).toBe('append');
  });
  it('server.trusted_hops: 1 by default, 1–16, only with trust_forwarded (else a client would name the logged address)', () => {
    const cfg = (server: Record<string, unknown>) => validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES, server });
    const dflt = cfg({});
    expect(dflt.ok && dflt.config.server.trusted_hops).toBe(1);
    const two = cfg({ trust_forwarded: true, trusted_hops: 2 });
    expect(two.ok && two.config.server.trusted_hops).toBe(2);
    expect(errors(cfg({ trusted_hops: 2 }))).toEqual([expect.stringMatching(/^server\.trusted_hops: counts trusted front proxies .* only with server\.trust_forwarded: true/)]);
    for (const v of [0, 17, 1.5, '2']) expect(errors(cfg({ trust_forwarded: true, trusted_hops: v })), String(v)).toEqual([expect.stringMatching(/^server\.trusted_hops: /)]);
  });

  it('upstream pipelining: default 1 (off), 1–64, HTTP/1.1 upstreams only — each error with its path', () => {
    const dflt = validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, routes: ROUTES });
    expect(dflt.ok && dflt.config.upstreams.a!.pipelining).toBe(1);
    const on = validateConfig({ upstreams: { a: { targets: ['http://127.0.0.1:1'], pipelining: 8 } }, routes: ROUTES });
    expect(on.ok && on.config.upstreams.a!.pipelining).toBe(8);
    const bad = errors(validateConfig({ upstreams: {
      a: { targets: ['http://127.0.0.1:1'], pipelining: 0 },
      b: { targets: ['http://127.0.0.1:1'], pipelining: 65 },
      c: { targets: ['http://127.0.0.1:1'], pipelining: 4, protocol: 'h2c' },
    }, routes: ROUTES }));
    expect(bad).toEqual(expect.arrayContaining([
      expect.stringMatching(/^upstreams\.a\.pipelining: /),
      expect.stringMatching(/^upstreams\.b\.pipelining: /),
      expect.stringMatching(/^upstreams\.c\.pipelining: pipelining is HTTP\/1\.1 only/),
    ]));
  });

  it('missing required sections are named', () => {
    expect(errors(validateConfig({}))).toEqual(['upstreams: required (expected object)', 'routes: required (expected array)']);
    expect(errors(parseConfigText(''))).toEqual(['upstreams: required (expected object)', 'routes: required (expected array)']);
  });

  it('environment variable names are checked', () => {
    const e = errors(validateConfig(base({ admin: { token_env: 'not a name' } })));
    expect(e).toContain('admin.token_env: an environment variable name');
  });
});

describe('config: YAML and files', () => {
  it('YAML syntax errors carry the line', () => {
    const e = errors(parseConfigText('server:\n  listen: [\n'));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^line \d+: /);
  });

  it('duplicate keys are refused (the second would silently win)', () => {
    const e = errors(parseConfigText('upstreams: {}\nroutes: []\nupstreams: {}\n'));
    expect(e[0]).toMatch(/^line 3: Map keys must be unique/);
  });

  it('a missing file is one error naming the file', () => {
    const r = loadConfigFile('/nonexistent/portcullis.yaml');
    expect(errors(r)).toEqual(['/nonexistent/portcullis.yaml: cannot read: no such file (ENOENT)']);
  });

  it('a valid file loads deep-frozen, with defaults and units filled in', () => {
    const dir = tempDir('portcullis-cfg-');
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'upstreams:\n  app: { targets: ["http://127.0.0.1:1"] }\nroutes:\n  - { name: all, match: { path: "/*" }, upstream: app, auth: none }\n');
    const r = loadConfigFile(file);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.server.limits.max_body_bytes).toBe(10 * 1024 * 1024);
    expect(r.config.server.timeouts.request_ms).toBe(30_000);
    expect(r.config.upstreams.app!.eject.consecutive_failures).toBe(3);
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(Object.isFrozen(r.config.routes[0]!.match)).toBe(true);
    expect(() => { (r.config.server.limits as { max_body_bytes: number }).max_body_bytes = 1; }).toThrow(TypeError);
  });

  it('formatProblems prints one indented line per problem', () => {
    expect(formatProblems([{ path: 'a.b', message: 'x' }, { path: 'c', message: 'y' }])).toBe('  a.b: x\n  c: y');
  });
});

/** Every key the schema accepts, by name (unwrapping defaults, optionals, unions, arrays, records). */
function schemaKeys(t: z.ZodTypeAny, out = new Set<string>()): Set<string> {
  if (t instanceof z.ZodDefault) return schemaKeys(t._def.innerType, out);
  if (t instanceof z.ZodOptional) return schemaKeys(t.unwrap(), out);
  if (t instanceof z.ZodEffects) return schemaKeys(t.innerType(), out);
  if (t instanceof z.ZodArray) return schemaKeys(t.element, out);
  if (t instanceof z.ZodRecord) return schemaKeys(t.valueSchema, out);
  if (t instanceof z.ZodUnion) { for (const o of t.options as z.ZodTypeAny[]) schemaKeys(o, out); return out; }
  if (t instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(t.shape as Record<string, z.ZodTypeAny>)) { out.add(k); schemaKeys(v, out); }
  }
  return out;
}

describe('deploy/portcullis.example.yaml', () => {
  const text = readFileSync(join(ROOT, 'deploy', 'portcullis.example.yaml'), 'utf8');

  it('is a valid config', () => {
    const r = parseConfigText(text);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('documents every field of the schema (commented or not)', () => {
    const missing = [...schemaKeys(configSchema)].filter((k) => !new RegExp(`(^|[\\s{,#])${k}:`, 'm').test(text));
    expect(missing).toEqual([]);
  });

  it('a value written with a "# default …" comment is the default: left out, the schema gives the same', () => {
    const lines = text.split('\n');
    const cases: Array<{ line: number; path: Array<string | number>; written: unknown }> = [];
    visit(parseDocument(text), {
      Pair(_, pair, path) {
        const flow = isScalar(pair.value) || ((isSeq(pair.value) || isMap(pair.value)) && pair.value.flow === true);
        if (!flow || !isScalar(pair.key)) return;
        const line = text.slice(0, pair.key.range![0]).split('\n').length;
        if (!/ # default\b/.test(lines[line - 1]!)) return;
        const at: Array<string | number> = [];
        path.forEach((n, i) => { if (isPair(n)) at.push(String((n.key as { value: unknown }).value)); else if (isSeq(n)) at.push(n.items.indexOf(path[i + 1] as never)); });
        cases.push({ line, path: [...at, String(pair.key.value)], written: (pair.value as { toJSON(): unknown }).toJSON() });
      },
    });
    expect(cases.length).toBeGreaterThan(50);
    const wrong = cases.flatMap((c) => {
      const doc = parseDocument(text);
      doc.deleteIn(c.path);
      const r = validateConfig(doc.toJS());
      if (!r.ok) return [`line ${c.line} ${c.path.join('.')}: invalid when left out`];
      const got = c.path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], r.config);
      return JSON.stringify(got) === JSON.stringify(c.written) ? [] : [`line ${c.line} ${c.path.join('.')}: written ${JSON.stringify(c.written)}, default ${JSON.stringify(got)}`];
    });
    expect(wrong).toEqual([]);
  });
});
