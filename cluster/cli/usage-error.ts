// The one error every CLI command throws for a bad command line or a refused input: main.ts
// prints its message and exits 2 (any other error exits 1).

/** Bad usage: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
