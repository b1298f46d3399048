// The fields read at start only: which changes a reload names (against the start config), and the
// config a process runs after such a reload (start values kept, the rest taken, nothing recreated).
// Every top-level section is either classified here or reloadable: a new one must be decided; the
// README's "Fields read at start" paragraph names the same list.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema, POLICY_KEYS, restartOnlyChanges, RESTART_ONLY_FIELDS, validateConfig, withStartFields, type Config } from '../../../node/config/index.js';

const base = {
  server: { listen: { host: '127.0.0.1', port: 8080 } },
  upstreams: { app: { targets: ['http://127.0.0.1:3000'] } },
  routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
};
const poll = (interval_ms: number): Record<string, unknown> => ({
  issuer: 'https://tx.example', audiences: ['https://proxy.example/ssf'],
  poll: { endpoint: 'https://tx.example/poll', authorization_env: 'PT_POLL_AUTH', interval_ms },
});

function parse(extra: Record<string, unknown>): Config {
  const r = validateConfig({ ...base, ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('restartOnlyChanges', () => {
  it('is empty for an equal config and for reloadable changes only', () => {
    const a = parse({});
    expect(restartOnlyChanges(a, parse({}))).toEqual([]);
    expect(restartOnlyChanges(a, parse({ server: { ...base.server, limits: { max_body_bytes: 1 } }, cluster: { policy: { response_header: true } } }))).toEqual([]);
  });

  it('names each changed field by its path, event sources by name', () => {
    const a = parse({ event_sources: { tx: poll(1000), gone: poll(1000) } });
    const b = parse({
      server: { listen: { host: '127.0.0.1', port: 8081 }, websocket: { idle_timeout_s: 0 } },
      log: { access: false }, verifier: { mode: 'inline' }, cluster: { member_id: 'm1' },
      event_sources: { tx: poll(2000), added: poll(1000) },
    });
    expect(restartOnlyChanges(a, b)).toEqual(['server.listen', 'server.websocket', 'log.access', 'verifier', 'cluster.member_id', 'event_sources.tx.poll', 'event_sources.gone.poll', 'event_sources.added.poll']);
  });
});

describe('withStartFields', () => {
  it('returns the new config itself when nothing read at start changed', () => {
    const b = parse({});
    expect(withStartFields(b, parse({}))).toBe(b);
  });

  it('keeps the start values, takes the rest, shares what it does not change, recreates nothing removed', () => {
    const a = parse({ log: { access: true }, event_sources: { tx: poll(1000), gone: poll(1000) } });
    const b = parse({ log: { access: false, level: 'warn' }, routes: [...base.routes, { name: 'x', match: { path: '/x' }, upstream: 'app', auth: 'none' }], event_sources: { tx: poll(2000) } });
    const c = withStartFields(b, a);
    expect(c.log.access).toBe(true);
    expect(c.log.level).toBe('info');
    expect(c.routes).toBe(b.routes);
    expect(c.event_sources.tx?.poll?.interval_ms).toBe(1000);
    expect(c.event_sources.gone).toBeUndefined();
    // a removed source's poll loop still runs where it started: still named, not brought back half
    expect(restartOnlyChanges(a, c)).toEqual(['event_sources.gone.poll']);
    expect(b.log.access).toBe(false); // the input is not changed
  });
});

describe('every top-level section is decided', () => {
  it('is policy, read at start, or known to be applied by a reload', () => {
    const RELOADED = ['version', 'server', 'admin', 'event_sources', 'cluster', 'log']; // sections partly read at start list their fields
    const startOnly = new Set(RESTART_ONLY_FIELDS.map((f) => f.split('.')[0]!));
    const undecided = Object.keys(configSchema.shape).filter((k) => !(POLICY_KEYS as readonly string[]).includes(k) && !startOnly.has(k) && !RELOADED.includes(k));
    expect(undecided).toEqual([]);
  });
});

/** The keys of an object schema under its default/optional/refine wrappers. */
function shapeOf(t: unknown): Record<string, unknown> {
  let s = t as { shape?: Record<string, unknown>; _def: { innerType?: unknown; schema?: unknown } };
  while (s.shape === undefined) s = (s._def.innerType ?? s._def.schema) as typeof s;
  return s.shape;
}

describe('README "Fields read at start" names the list', () => {
  it('names every field of RESTART_ONLY_FIELDS, and no other (cluster: every field but policy.response_header)', () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('**Fields read at start.**');
    expect(start, 'README: the "Fields read at start" paragraph').toBeGreaterThan(0);
    const para = readme.slice(start, readme.indexOf('node/config/restart-only.ts', start)).replace(/\s+/g, ' ');
    expect(para).toContain('every `cluster` field but `cluster.policy.response_header`');
    const named = [...para.matchAll(/`([a-z_]+(?:\.[a-z0-9_<>*]+)*)`/g)].map((m) => m[1]!.replace('<name>', '*'))
      .filter((f) => f !== 'cluster' && f !== 'cluster.policy.response_header' && f !== 'cluster.policy.source');
    const listed = RESTART_ONLY_FIELDS.filter((f) => !f.startsWith('cluster.'));
    expect([...new Set(named)].sort()).toEqual([...listed].sort());
    // "every cluster field but response_header" holds for the list itself
    const cluster = shapeOf(configSchema.shape.cluster);
    const policy = shapeOf(cluster.policy!);
    const all = [...Object.keys(cluster).filter((k) => k !== 'policy').map((k) => `cluster.${k}`), ...Object.keys(policy).filter((k) => k !== 'response_header').map((k) => `cluster.policy.${k}`)];
    expect(RESTART_ONLY_FIELDS.filter((f) => f.startsWith('cluster.')).sort()).toEqual(all.sort());
  });
});
