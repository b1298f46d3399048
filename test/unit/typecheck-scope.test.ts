// What `npm run typecheck` covers: every test file besides the sources, at the sources' strictness,
// and `npm test` (CI's command) runs it before the suites — a type error in a test (a field name its
// type lacks, read as undefined) fails the run instead of leaving a test that cannot fail.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';

const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The files and options tsc reads from `config` (comments allowed, `extends` followed), paths relative to the root. */
function parsed(config: string): { files: string[]; options: ts.CompilerOptions; own: Record<string, unknown> } {
  const read = ts.readConfigFile(join(ROOT, config), (f) => ts.sys.readFile(f));
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const cmd = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, join(ROOT, config));
  if (cmd.errors.length > 0) throw new Error(cmd.errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n')).join('\n'));
  const own = (read.config as { compilerOptions?: Record<string, unknown> }).compilerOptions ?? {};
  return { files: cmd.fileNames.map((f) => relative(ROOT, f)), options: cmd.options, own };
}

describe('type checking covers the tests', () => {
  it('npm run typecheck checks tsconfig.test.json, and npm test runs it after the build, before vitest', () => {
    expect(scripts.typecheck).toBe('tsc -p tsconfig.test.json');
    const steps = scripts.test!.split('&&').map((s) => s.trim());
    // the build step: `npm run build`, or build-stamp.mjs's check falling back to it (test/unit/build-stamp.test.ts)
    const build = steps.findIndex((s) => s === 'npm run build' || /^\(node build-stamp\.mjs --check \|\| npm run build\)$/.test(s));
    expect(build).toBeGreaterThanOrEqual(0);
    expect(steps.indexOf('npm run typecheck')).toBeGreaterThan(build);
    expect(steps.indexOf('npm run typecheck')).toBeLessThan(steps.findIndex((s) => s.startsWith('vitest run')));
  });

  it('tsconfig.test.json reads every tracked test file and every source file, emits nothing, and loosens no option', () => {
    const test = parsed('tsconfig.test.json');
    const main = parsed('tsconfig.json');
    const tracked = execFileSync('git', ['ls-files', 'test', 'vitest.config.ts'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.ts'));
    expect(tracked.length).toBeGreaterThan(100);
    const checked = new Set(test.files);
    expect(tracked.filter((f) => !checked.has(f))).toEqual([]);
    expect(main.files.filter((f) => !checked.has(f))).toEqual([]);
    expect(test.options.noEmit).toBe(true);
    expect(test.options.strict).toBe(true);
    // only output settings of its own: the checks themselves are tsconfig.json's
    expect(Object.keys(test.own).filter((k) => k !== 'noEmit' && k !== 'sourceMap')).toEqual([]);
  });
});
