// A fixture process forked with an IPC channel and driven by request and answer: it sends
// `{ reply: 0 }` once ready and `{ reply: rid, value }` for each `{ ...command, rid }` it gets;
// stopping it disconnects the channel (SIGKILL after 3 s if it does not exit by then).
import { fork, type ChildProcess } from 'node:child_process';

/** A running IPC fixture. */
export interface IpcFixture {
  readonly child: ChildProcess;
  /** Send `command` with a fresh `rid`; resolves with the fixture's `value` for it. */
  send<T>(command: Record<string, unknown>): Promise<T>;
  /** Its stdout and stderr so far. */
  output(): string;
  /** Disconnect and wait for the exit (SIGKILL after 3 s); nothing when it already exited. */
  stop(): Promise<void>;
}

/** Fork `modulePath` (with `execArgv`, `env`) and wait for its ready message; fails with its output if it exits first. */
export async function forkIpcFixture(modulePath: string, opts: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<IpcFixture> {
  const child = fork(modulePath, [], { execArgv: opts.execArgv ?? [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], ...(opts.env === undefined ? {} : { env: opts.env }) });
  let output = '';
  let rid = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { reply: number; value: unknown }) => {
      if (m.reply === 0) resolve();
      else { waiting.get(m.reply)?.(m.value); waiting.delete(m.reply); }
    });
    child.once('exit', (code) => reject(new Error(`ipc cluster exited ${code}: ${output}`)));
  });
  return {
    child,
    send: <T>(m: Record<string, unknown>): Promise<T> => new Promise((resolve) => {
      const id = ++rid;
      waiting.set(id, resolve as (v: unknown) => void);
      child.send({ ...m, rid: id });
    }),
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
      await gone;
    },
  };
}
