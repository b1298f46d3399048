// What validating a config yields: the config, or every problem with its path. Its own file so
// that the checks load.ts runs (env-check) can name a problem without importing the loader.
import { resolve } from 'node:path';
import type { Config } from './schema.js';

/** One problem in a config file: `routes[2].upstream: unknown upstream "ordrs" (known: orders)`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: ConfigProblem[] };

/**
 * Why `file` could not be read, in words (the code kept: scripts and searches know it):
 * `no such file (ENOENT)`; a relative path names where it was looked for.
 */
export function readProblem(file: string, err: NodeJS.ErrnoException): string {
  const code = err.code ?? String(err);
  const words = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is not a directory' : null;
  const where = resolve(file) !== file ? `, looked for ${resolve(file)}` : '';
  return words === null ? `${code}${where}` : `${words} (${code}${where})`;
}
