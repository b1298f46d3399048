// Where things are, whether the bench runs compiled (dist/bench/*.js) or as TypeScript
// source (vitest): the repository root, the compiled tree, the CLI and the results folder.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const RUNNING_SOURCE = import.meta.url.endsWith('.ts');

/** The nearest ancestor of this file holding package.json; the working directory if none does. */
export function repoRoot(): string {
  for (let dir = HERE; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** The compiled tree the bench's child processes run from (dist/, or wherever tsc put this file). */
export function compiledRoot(): string {
  return RUNNING_SOURCE ? join(repoRoot(), 'dist') : dirname(HERE);
}

/** `portcullis` CLI entry (dist/cluster/cli/main.js). */
export function cliPath(): string {
  return join(compiledRoot(), 'cluster', 'cli', 'main.js');
}

/** Compiled cheap upstream (dist/bench/cheap-upstream.js). */
export function cheapUpstreamPath(): string {
  return join(compiledRoot(), 'bench', 'cheap-upstream.js');
}

/** Compiled forward-auth peer validator (dist/bench/jwt-validator.js). */
export function validatorPath(): string {
  return join(compiledRoot(), 'bench', 'jwt-validator.js');
}

/** Compiled zero-cost auth service of the forward-auth scenario (dist/bench/zero-auth.js). */
export function zeroAuthPath(): string {
  return join(compiledRoot(), 'bench', 'zero-auth.js');
}

/** bench/results under the repository root: recorded runs (`--record`), the JSON bench/RESULTS.md cites. */
export function resultsDir(): string {
  return join(repoRoot(), 'bench', 'results');
}

/** bench/results/local (git-ignored): every run not asked to be recorded, so a clone stays clean. */
export function localResultsDir(): string {
  return join(resultsDir(), 'local');
}

/** Where a run's JSON goes: bench/results with `record`, else bench/results/local (quick runs included). */
export function resultsDirFor(opts: { readonly record?: boolean; readonly quick?: boolean }): string {
  return opts.record === true ? resultsDir() : localResultsDir();
}

/** Compiled authorization-server child for the token scenarios (dist/bench/auth-server-process.js). */
export function authServerProcessPath(): string {
  return join(compiledRoot(), 'bench', 'auth-server-process.js');
}

/** Compiled cache-memory child (dist/bench/cache-memory-child.js). */
export function cacheMemoryChildPath(): string {
  return join(compiledRoot(), 'bench', 'cache-memory-child.js');
}
