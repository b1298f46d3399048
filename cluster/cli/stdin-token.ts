// `--token -`: a token read from stdin (revoke, explain), so it stays out of the process list
// (`ps`, /proc/<pid>/cmdline, readable by every local user) and the shell history.
import { UsageError } from './usage-error.js';

/** Bytes `--token -` reads at most: far above any request head the proxy accepts, so no request carries a longer token. */
export const MAX_STDIN_TOKEN_BYTES = 1024 * 1024; // 1 MiB

/** The text on stdin; a UsageError naming `cmd` past MAX_STDIN_TOKEN_BYTES (`--token - < /dev/urandom` grew without bound). */
export async function readStdinToken(cmd: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of process.stdin) {
    total += (c as Buffer).length;
    if (total > MAX_STDIN_TOKEN_BYTES) {
      process.stdin.destroy();
      throw new UsageError(`${cmd}: --token -: more than ${MAX_STDIN_TOKEN_BYTES} bytes on stdin; no request carries a token that long`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
