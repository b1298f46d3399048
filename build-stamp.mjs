// The build's stamp: a digest of everything `npm run build` reads, taken as the build starts (`--begin`)
// and written into dist/ by its last step (rolldown.config.mjs), so `npm test` can skip a build that
// would produce the same dist/ (`node build-stamp.mjs --check`: exit 0 when dist/ is the build of these sources, else 1).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)));
const STAMP = join(ROOT, 'dist', '.build-stamp');
/** The inputs' digest as this build started, before tsc read a file: the stamp the build's last step writes. */
const PENDING = join(ROOT, 'dist', '.build-inputs');
const CLI = join(ROOT, 'dist', 'cluster', 'cli', 'main.js');
/** Whole trees the build compiles (tsconfig.json's include), minus recorded benchmark output. */
const TREES = ['node', 'cluster', 'bench'];
const SKIP = new Set(['bench/results']);
/** Single files that change what the build writes (compiler and bundler options and versions, this file). */
const FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'rolldown.config.mjs', 'build-stamp.mjs'];

function filesUnder(dir, out) {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (SKIP.has(rel)) continue;
    if (e.isDirectory()) filesUnder(rel, out);
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** sha256 over every input's path and bytes, in a fixed order: equal digests, equal builds. */
export function inputsDigest() {
  const files = [...FILES, ...TREES.flatMap((d) => filesUnder(d, []))].sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(existsSync(join(ROOT, f)) ? readFileSync(join(ROOT, f)) : '(missing)');
    h.update('\0');
  }
  return h.digest('hex');
}

const cliDigest = () => createHash('sha256').update(readFileSync(CLI)).digest('hex');

/** Called as a build starts: a build that stops half-way leaves no stamp behind. */
export function clearStamp() {
  rmSync(STAMP, { force: true });
}

/**
 * `npm run build`'s first step (`--begin`), before tsc reads a source: no stamp, and the inputs' digest as
 * they are now. Taken when the bundler started instead, a source saved while tsc compiled (~30 s here) was
 * in the digest but not in dist/, and `npm test` ran the suite against that stale dist/ without building.
 */
export function beginBuild() {
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  clearStamp();
  writeFileSync(PENDING, `${inputsDigest()}\n`);
}

/** The digest beginBuild took, or null (a bundler run no `--begin` preceded: it writes no stamp). */
export function pendingInputs() {
  if (!existsSync(PENDING)) return null;
  const d = readFileSync(PENDING, 'utf8').trim();
  return /^[0-9a-f]{64}$/.test(d) ? d : null;
}

/**
 * Called once the bundle is written, with the digest beginBuild took (pendingInputs), which it uses up. The
 * CLI's own digest goes beside it: a later bare `tsc -p tsconfig.json` (unbundled main.js) makes the stamp stale.
 */
export function writeStamp(inputs) {
  rmSync(PENDING, { force: true });
  writeFileSync(STAMP, `${JSON.stringify({ inputs, cli: cliDigest() })}\n`);
}

/** Why dist/ is not the build of the current sources, or null when it is. */
export function staleReason() {
  if (!existsSync(STAMP)) return 'dist/ has no build stamp (not built, or built half-way)';
  let stamp;
  try { stamp = JSON.parse(readFileSync(STAMP, 'utf8')); } catch { return 'dist/.build-stamp is unreadable'; }
  if (!existsSync(CLI) || stamp.cli !== cliDigest()) return `${relative(ROOT, CLI)} is not what the last build wrote`;
  if (stamp.inputs !== inputsDigest()) return 'sources or build settings changed since the last build';
  return null;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--begin') {
    beginBuild();
    process.exit(0);
  }
  if (process.argv[2] !== '--check') {
    console.error('usage: node build-stamp.mjs --check   (exit 0: dist/ is the build of these sources)\n       node build-stamp.mjs --begin   (npm run build\'s first step)');
    process.exit(2);
  }
  const reason = staleReason();
  if (reason === null) console.log('build-stamp: dist/ is the build of these sources; not building again');
  else console.log(`build-stamp: building: ${reason}`);
  process.exit(reason === null ? 0 : 1);
}
