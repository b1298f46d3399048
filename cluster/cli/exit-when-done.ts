// Ending a command that used NATS: exit once its output is written, instead of waiting for the
// event loop to empty — which a nats.js dial that timed out can keep busy for minutes.

/**
 * When nats.js's dial to a listed server timed out (the server frozen, or its link cut) and the
 * next one answered, that dial's socket stays open: nats.js 2.29's transport close returns early
 * for a connection that never completed. `policy` and `revoke` printed their result and then did
 * not exit until the kernel gave up on that socket.
 */
export async function exitWhenDone(): Promise<never> {
  await new Promise<void>((resolve) => { process.stdout.write('', () => resolve()); });
  process.exit(process.exitCode ?? 0);
}
