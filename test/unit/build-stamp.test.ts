// `npm test` builds only when dist/ is not the build of the current sources (build-stamp.mjs): CI's
// `npm ci` already built through `prepare`, and a second build cost ~40 s of a 2-core run. The stamp
// must never call a stale dist/ current: any source, build setting, or a bare `tsc` over the bundle.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';
import { tempDir } from '../helpers/temp-dirs.js';

const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

let root = '';
/** build-stamp.mjs's exports, loaded from a tree's own copy (each copy stamps the tree it sits in). */
interface Stamp { beginBuild(): void; pendingInputs(): string | null; writeStamp(inputs: string): void; staleReason(): string | null }
let stamp: Stamp;

/** A checkout-shaped tree with its own copy of build-stamp.mjs. */
function tree(): string {
  const dir = tempDir('portcullis-stamp-');
  for (const d of ['node', 'cluster/cli', 'bench/results', 'dist/cluster/cli']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'rolldown.config.mjs']) writeFileSync(join(dir, f), `{"f":"${f}"}\n`);
  copyFileSync(join(ROOT, 'build-stamp.mjs'), join(dir, 'build-stamp.mjs'));
  writeFileSync(join(dir, 'node/a.ts'), 'export const a = 1;\n');
  writeFileSync(join(dir, 'cluster/cli/main.ts'), 'import "../../node/a.js";\n');
  writeFileSync(join(dir, 'dist/cluster/cli/main.js'), '// the bundle\n');
  return dir;
}
/** `npm run build`: its first step takes the digest (--begin), its last writes it (rolldown.config.mjs). */
function build(whileCompiling?: () => void): void {
  stamp.beginBuild();
  whileCompiling?.();
  const inputs = stamp.pendingInputs();
  if (inputs !== null) stamp.writeStamp(inputs);
}
/** What `node build-stamp.mjs --check` decides (its exit status and line: the first test runs it). */
const fresh = (): boolean => stamp.staleReason() === null;
function checkCli(): { status: number | null; said: string } {
  const r = spawnSync(process.execPath, ['build-stamp.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  return { status: r.status, said: r.stdout.trim() };
}

describe('build stamp: npm test skips only a build that would change nothing', () => {
  beforeEach(async () => {
    root = tree();
    stamp = await import(pathToFileURL(join(root, 'build-stamp.mjs')).href) as Stamp;
  });

  it('npm test checks the stamp and builds when it is stale, before the typecheck and vitest', () => {
    expect(scripts.test).toMatch(/^\(node build-stamp\.mjs --check \|\| npm run build\) && npm run typecheck && vitest run$/);
    expect(scripts.prepare).toBe('npm run build');
    expect(scripts.build).toMatch(/^node build-stamp\.mjs --begin && tsc /);
    const rolldown = readFileSync(join(ROOT, 'rolldown.config.mjs'), 'utf8');
    expect(rolldown).toMatch(/const INPUTS = pendingInputs\(\);/);
    expect(rolldown).toMatch(/writeStamp\(INPUTS\)/);
  });

  it('a source saved while the build compiles leaves dist/ stale: the digest is the one taken before tsc read anything', () => {
    // taken when the bundler started (after tsc's ~30 s), the edit was in the digest and not in dist/: npm test skipped the build
    build(() => writeFileSync(join(root, 'node/a.ts'), 'export const a = 3;\n'));
    expect(stamp.staleReason()).toMatch(/sources or build settings changed/);
    build();
    expect(fresh()).toBe(true);
  });

  it('a bundler run no --begin preceded writes no stamp (a begin is used up by the stamp it makes)', () => {
    build();
    expect(stamp.pendingInputs()).toBeNull();
    rmSync(join(root, 'dist/.build-stamp'));
    const inputs = stamp.pendingInputs();
    if (inputs !== null) stamp.writeStamp(inputs);
    expect(fresh()).toBe(false);
  });

  it('a fresh checkout (no stamp) builds: --check exits 1 saying why; right after a build it exits 0', () => {
    expect(checkCli()).toEqual({ status: 1, said: 'build-stamp: building: dist/ has no build stamp (not built, or built half-way)' });
    build();
    expect(checkCli()).toEqual({ status: 0, said: 'build-stamp: dist/ is the build of these sources; not building again' });
  });

  it('any change to a source, a new file, or a build setting makes it build', () => {
    build();
    writeFileSync(join(root, 'node/a.ts'), 'export const a = 2;\n');
    expect(fresh()).toBe(false);
    build();
    writeFileSync(join(root, 'cluster/cli/new-command.ts'), 'export {};\n');
    expect(fresh()).toBe(false);
    build();
    writeFileSync(join(root, 'tsconfig.json'), '{"f":"changed"}\n');
    expect(stamp.staleReason()).toMatch(/sources or build settings changed/);
    build();
    rmSync(join(root, 'node/a.ts'));
    expect(fresh()).toBe(false);
  });

  it('a dist/ whose CLI the last build did not write (a bare tsc over the bundle) builds', () => {
    build();
    writeFileSync(join(root, 'dist/cluster/cli/main.js'), '// tsc output, unbundled\n');
    expect(stamp.staleReason()).toMatch(/main\.js is not what the last build wrote/);
    rmSync(join(root, 'dist/cluster/cli/main.js'));
    expect(fresh()).toBe(false);
  });

  it('recorded benchmark output is not an input (bench/results/ changes on every recorded run)', () => {
    build();
    writeFileSync(join(root, 'bench/results/run.json'), '{}\n');
    expect(fresh()).toBe(true);
  });

  it('a half-written or unreadable stamp builds', () => {
    build();
    writeFileSync(join(root, 'dist/.build-stamp'), '{"inputs":');
    expect(stamp.staleReason()).toMatch(/unreadable/);
  });
});
