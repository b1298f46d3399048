// What a fresh clone holds (issue 8 item 17): the LICENSE that package.json names, no
// profiler droppings (V8 `isolate-*-v8.log`) committed or committable, and a README whose
// set-up paragraph names every Debian package a suite of `npm test` fails without (those `.ci/run`
// installs, but nghttp2-client, which only the h2 benchmark runs).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
});
