// What a fresh clone holds (issue 8 item 17): the LICENSE that package.json names, no
// profiler droppings (V8 `isolate-*-v8.log`) committed or committable, and a README whose
// set-up paragraph names every Debian package a suite of `npm test` fails without (those `.ci/run`
// installs, but nghttp2-client, which only the h2 benchmark runs), and READMEs whose file references
// (`test/…`, `bench/…`, `node/…`, a bare `*.test.ts` name, `node dist/…js`) name files that exist.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';

const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
const ignored = (path: string): boolean => {
  try { execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT }); return true; } catch { return false; }
};

describe('repository', () => {
  it('LICENSE holds the Apache License 2.0 that package.json names', () => {
    expect(JSON.parse(read('package.json')).license).toBe('Apache-2.0');
    const text = read('LICENSE');
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\//);
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('9. Accepting Warranty or Additional Liability.');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });

  it('no V8 isolate logs are tracked, and new ones are ignored', () => {
    expect(git('ls-files').split('\n').filter((f) => /(^|\/)isolate-.*\.log$/.test(f))).toEqual([]);
    expect(ignored('isolate-0x5e1f2a0-1234-v8.log')).toBe(true);
    expect(ignored('bench/isolate-0x1-2-v8.log')).toBe(true);
  });

  it('README set-up: the npm test paragraph names every package .ci/run installs for the suites', () => {
    const readme = read('README.md');
    const setup = readme.slice(readme.indexOf('## Set-up'), readme.indexOf('\n## ', readme.indexOf('## Set-up') + 1));
    const testPara = setup.split('\n\n').find((p) => p.startsWith('`npm test`'))!;
    const installs = [...read('.ci/run').matchAll(/need\+=\(([a-z0-9-]+)\)/g)].map((m) => m[1]!);
    expect(installs).toContain('nats-server');
    const forTests = installs.filter((p) => p !== 'nghttp2-client'); // h2load: the h2 benchmark only
    expect(forTests.filter((p) => !new RegExp(`\\b${p}\\b`).test(testPara))).toEqual([]);
    expect(setup).toMatch(/`npm run bench`[^]*haproxy/);
  });

  it('every file README.md and deploy/README.md name exists (a "Test: …" of a renamed file would point nowhere)', () => {
    const tracked = git('ls-files').split('\n');
    const missing: string[] = [];
    for (const doc of ['README.md', 'deploy/README.md']) {
      const text = read(doc);
      for (const m of text.matchAll(/(?<![\w./-])((?:test|bench|node|cluster|deploy)\/[\w./-]+\.(?:ts|mjs|json|js|yaml|yml|conf|cfg|sh|service))(?![\w])/g)) {
        if (!existsSync(join(ROOT, m[1]!))) missing.push(`${doc}: ${m[1]}`);
      }
      // `node dist/bench/x.js` runs what tsc built from bench/x.ts
      for (const m of text.matchAll(/(?<![\w./-])dist\/([\w./-]+)\.js/g)) {
        if (!existsSync(join(ROOT, `${m[1]}.ts`))) missing.push(`${doc}: dist/${m[1]}.js (no ${m[1]}.ts)`);
      }
      // a bare name (`reload-half-valid.test.ts`) must name exactly one file
      for (const m of text.matchAll(/(?<![\w./-])([\w.-]+\.(?:test|bench)\.ts)/g)) {
        const found = tracked.filter((f) => f.endsWith(`/${m[1]}`));
        if (found.length !== 1) missing.push(`${doc}: ${m[1]} (${found.length} files)`);
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });
});
