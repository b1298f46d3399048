// What validating a config yields: the config, or every problem with its path. Its own file so
// that the checks load.ts runs (env-check) can name a problem without importing the loader.
import type { Config } from './schema.js';

/** One problem in a config file: `routes[2].upstream: unknown upstream "ordrs" (known: orders)`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: ConfigProblem[] };
