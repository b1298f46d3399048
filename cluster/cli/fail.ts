// How a command ends on an error it reports itself: "portcullis: MESSAGE" on stderr and the exit
// code (2 bad usage or bad config, 1 any other failure), shared by main.ts and the command modules.

/** Print `portcullis: message` to stderr and exit with `code` (default 2). */
export function fail(message: string, code = 2): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}
