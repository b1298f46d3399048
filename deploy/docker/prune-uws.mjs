#!/usr/bin/env node
// Shrinks an installed uWebSockets.js package to what one platform needs: the loader
// (src/uws.js), package.json, LICENSE and the single binary for this platform, arch and
// Node ABI. The published package carries 113 MB of binaries for every platform and ABI
// plus a pure-JS fallback; the image ships ~7 MB. Without the fallback a mismatched
// binary fails the start instead of silently serving on a slow JavaScript server.
//
//   node prune-uws.mjs DIR [--platform P] [--arch A] [--abi N]   (defaults: this Node)
//
// Prints one JSON line {kept, bytes_before, bytes_after}; exits 1 (nothing removed)
// when the wanted binary is missing, and 1 when the pruned package does not load the
// native binary in this Node (only checked when the target is this Node).
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { platform: { type: 'string' }, arch: { type: 'string' }, abi: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
if (positionals.length !== 1) {
  process.stderr.write('usage: prune-uws.mjs DIR [--platform P] [--arch A] [--abi N]\n');
  process.exit(2);
}
const dir = resolve(positionals[0]);
const platform = values.platform ?? process.platform;
const arch = values.arch ?? process.arch;
const abi = values.abi ?? process.versions.modules;
const binary = join('binaries', `uws_${platform}_${arch}_${abi}.node`);
// src/uws.js requires exactly ../binaries/uws_<platform>_<arch>_<abi>.node
const keep = new Set(['package.json', 'LICENSE', join('src', 'uws.js'), binary]);

function sizeOf(p) {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  let n = 0;
  for (const e of readdirSync(p)) n += sizeOf(join(p, e));
  return n;
}

function prune(p) {
  // Returns true when p (or something below it) is kept.
  const rel = relative(dir, p);
  if (keep.has(rel)) return true;
  if (!statSync(p).isDirectory()) { rmSync(p); return false; }
  let kept = false;
  for (const e of readdirSync(p)) kept = prune(join(p, e)) || kept;
  if (!kept && p !== dir) rmSync(p, { recursive: true });
  return kept;
}

if (!existsSync(join(dir, 'src', 'uws.js'))) {
  process.stderr.write(`prune-uws: ${dir} is not a uWebSockets.js package (no src/uws.js)\n`);
  process.exit(1);
}
if (!existsSync(join(dir, binary))) {
  const have = existsSync(join(dir, 'binaries')) ? readdirSync(join(dir, 'binaries')).join(', ') : 'none';
  process.stderr.write(`prune-uws: ${binary} not in ${dir} (have: ${have}); this build does not support ${platform}/${arch} with Node ABI ${abi}\n`);
  process.exit(1);
}
const before = sizeOf(dir);
prune(dir);
const after = sizeOf(dir);

if (platform === process.platform && arch === process.arch && abi === process.versions.modules) {
  // The loader falls back to a JS implementation when the binary does not load; that
  // fallback is gone now, so a load failure throws here. getParts exists only natively.
  const uws = createRequire(join(dir, 'package.json'))(dir);
  if (typeof uws.getParts !== 'function' || typeof uws.App !== 'function') {
    process.stderr.write('prune-uws: the pruned package did not load the native binary\n');
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify({ kept: [...keep].sort(), bytes_before: before, bytes_after: after }) + '\n');
