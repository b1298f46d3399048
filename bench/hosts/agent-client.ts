// The harness's side of the client agent (client-agent.ts) in the cli namespace: started as a
// child, driven by one JSON command a line on its stdin, answered by id on its stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

interface AgentAnswer { id: number; ok: boolean; result?: unknown; error?: string }

/** The client agent in the cli namespace, driven over its stdin/stdout. */
export class AgentClient {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: AgentAnswer;
      try { m = JSON.parse(line) as AgentAnswer; } catch { return; }
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result); else w.reject(new Error(m.error));
    });
    proc.once('exit', () => { for (const w of this.waiting.values()) w.reject(new Error('client agent exited')); this.waiting.clear(); });
  }

  static async start(argv: string[], onOutput: (s: string) => void): Promise<AgentClient> {
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => onOutput(d.toString()));
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout! });
      rl.once('line', () => { rl.close(); resolve(); });
      proc.once('exit', (code) => reject(new Error(`client agent exited with ${code}`)));
    });
    return new AgentClient(proc);
  }

  /** Send one command; resolves with its result. */
  call<T>(cmd: Record<string, unknown> & { cmd: string }): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    });
  }
}
