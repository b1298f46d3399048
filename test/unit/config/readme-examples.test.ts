// Every YAML example of README.md and deploy/README.md passes what `portcullis check-config` runs
// (loadConfigFile with the environment): a fragment laid over the README's minimal config and the
// examples before it in its section (an indented one continues the previous example), its *_env set.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatProblems, loadConfigFile } from '../../../node/config/index.js';
import { ROOT } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

interface Example { file: string; line: number; section: string; text: string }
type Doc = Record<string, unknown>;

function examples(file: string): Example[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Example[] = [];
  for (const m of text.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```/gm)) {
    const before = text.slice(0, m.index);
    const section = [...before.matchAll(/^#{2,3} .*$/gm)].pop()?.[0] ?? '';
    const body = m[2]!.split('\n').map((l) => l.slice(m[1]!.length)).join('\n');
    out.push({ file, line: before.split('\n').length, section, text: body });
  }
  return out;
}

const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Maps merge key by key, lists put the example's items first (its routes win over the catch-alls). */
function merge(a: Doc, b: Doc): Doc {
  const out: Doc = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    out[k] = isMap(old) && isMap(v) ? merge(old, v) : Array.isArray(old) && Array.isArray(v) ? [...v, ...old] : v;
  }
  return out;
}

/** Every value of a `*_env` key, wherever it sits. */
function envNames(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) envNames(x, out);
  else if (isMap(v)) for (const [k, x] of Object.entries(v)) { if (k.endsWith('_env') && typeof x === 'string') out.push(x); else envNames(x, out); }
  return out;
}

/** The README's placeholder TLS paths (/etc/portcullis/…) pointed at a real certificate and key. */
function withFiles(v: unknown, cert: string, key: string): unknown {
  if (Array.isArray(v)) return v.map((x) => withFiles(x, cert, key));
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withFiles(x, cert, key)]));
  if (typeof v === 'string' && /^\/etc\/portcullis\/.*\.(pem|crt|key)$/.test(v)) return /key/.test(v.slice(v.lastIndexOf('/'))) ? key : cert;
  return v;
}

describe('README YAML examples', () => {
  it('each passes check-config\'s validation over the minimal config (and its section\'s earlier examples)', () => {
    const all = [...examples('README.md'), ...examples('deploy/README.md')];
    expect(all.length).toBeGreaterThanOrEqual(12);
    const minimal = all.find((e) => /A minimal config:\n\n```yaml\n$/.test(readFileSync(join(ROOT, e.file), 'utf8').split('\n').slice(0, e.line).join('\n') + '\n'));
    expect(minimal, 'README: the block after "A minimal config:"').toBeDefined();
    const dir = tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', 'key.pem', '-out', 'cert.pem'], { cwd: dir, stdio: 'pipe' });
    const cases: Array<{ name: string; config: Doc }> = [];
    const earlier = new Map<string, Example[]>();
    for (const e of all) {
      const prior = earlier.get(e.file + e.section) ?? [];
      // an indented example is a part of the previous one (`    events:` under `event_sources.okta`)
      const text = /^\s/.test(e.text) && prior.length > 0 ? `${prior.pop()!.text}${e.text}` : e.text;
      const own = { ...e, text };
      let config = e === minimal ? {} : parse(minimal!.text) as Doc;
      for (const p of [...prior, own]) config = merge(config, parse(p.text) as Doc);
      config = withFiles(config, join(dir, 'cert.pem'), join(dir, 'key.pem')) as Doc;
      // a fragment's routes may name an upstream it does not show
      const ups = (config.upstreams ?? {}) as Doc;
      for (const r of (config.routes ?? []) as Doc[]) if (typeof r.upstream === 'string' && !(r.upstream in ups)) ups[r.upstream] = { targets: ['http://127.0.0.1:3000'] };
      config.upstreams = ups;
      cases.push({ name: `${e.file}:${e.line}`, config });
      earlier.set(e.file + e.section, [...prior, own]);
    }
    const results = cases.map((c, i) => {
      const env = Object.fromEntries(envNames(c.config).map((n) => [n, randomBytes(48).toString('base64')]));
      const file = join(dir, `example-${i}.yaml`);
      writeFileSync(file, stringify(c.config));
      const r = loadConfigFile(file, { env });
      return r.ok ? '' : `${c.name}:\n${formatProblems(r.errors)}`;
    });
    expect(results.filter((r) => r !== '')).toEqual([]);
  });
});
