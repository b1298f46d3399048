// Bundles our own compiled code (tsc's dist/) behind the CLI entry into a few chunks, so `serve`
// loads ~10 files instead of ~340: on Node 20 each ESM module costs ~0.5 ms to load (no compile
// cache). node_modules stay external (some are CommonJS relying on __dirname), except `yaml`: every
// command that reads a config loads it, and its 72 files bundled cost ~40 ms of CPU less. See README "Build".
import { rmSync } from 'node:fs';
import { posix, relative, resolve } from 'node:path';
import { clearStamp, pendingInputs, writeStamp } from './build-stamp.mjs';

const DIST = resolve('dist');
const OUT = resolve(DIST, 'cluster/cli'); // the bundle replaces tsc's dist/cluster/cli/main.js
const MARK = '@@portcullis-dist@@/'; // plain text: the printer escapes control characters

rmSync(resolve(OUT, 'chunks'), { recursive: true, force: true }); // chunks of an older build
// taken by `npm run build`'s first step (build-stamp.mjs --begin), before tsc read a source: an edit made
// since leaves the stamp stale; null (bundled without --begin) writes none
const INPUTS = pendingInputs();
clearStamp(); // written again once this bundle is (build-stamp.mjs: what lets `npm test` skip a build)

/** The build's last step: dist/.build-stamp, the digest of the inputs this dist/ was built from. */
const stamp = { name: 'portcullis-build-stamp', writeBundle() { if (INPUTS !== null) writeStamp(INPUTS); } };

/**
 * Inside a bundle `import.meta.url` is the chunk's URL. Modules resolve files next to their own
 * compiled file (worker entries, package.json, createRequire, "am I the main script" checks), so
 * each one keeps its tsc-output URL: rewritten to a URL relative to the chunk that holds it. The
 * tsc output it points to stays in dist/ (worker threads still start from those files).
 */
const ownModuleUrl = {
  name: 'portcullis-own-module-url',
  transform(code, id) {
    if (!id.startsWith(DIST) || !code.includes('import.meta.url')) return null;
    const rel = relative(DIST, id).split('\\').join('/');
    return { code: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(MARK + rel)}, import.meta.url).href`), map: null };
  },
  renderChunk(code, chunk) {
    if (!code.includes(MARK)) return null;
    const up = posix.relative(posix.dirname(posix.join('cluster/cli', chunk.fileName)), '.') || '.';
    return { code: code.replaceAll(MARK, `${up}/`), map: null };
  },
};

export default {
  input: { main: resolve(OUT, 'main.js') },
  platform: 'node',
  // node:* and packages stay imports (yaml excepted, see above); our own files (relative or absolute paths) are bundled
  external: (id) => id !== 'yaml' && !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0'),
  plugins: [ownModuleUrl, stamp],
  output: {
    dir: OUT,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
  },
};
