// Child process of the revocation-propagation scenario: a plain NATS subscriber with nothing
// else to do. It authenticates and decodes every revocation as a member would and records when
// it arrived (wall clock, epoch ms). Being otherwise idle, it is the floor for any receiver on
// this host — a member's apply can only be faster than this by luck of the scheduler — so the
// difference between it and a member's own histogram is what a member's event loop costs.
// Args: one JSON `{ url, subject, keyEnv }` (the bus key comes from the named variable, never argv).
// Prints `{"ready":true}` once subscribed; on SIGTERM one JSON line `{ "arrivals": { value: epochMs } }`.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { connect } from 'nats';
import { BusAuth, Codec } from '../cluster/protocol/index.js';

export interface BusObserverSpec {
  readonly url: string;
  readonly subject: string;
  /** Environment variable holding the bus key (utf-8). */
  readonly keyEnv: string;
}

/** Pure: the report line printed at SIGTERM, or null when the output has none. */
export function parseBusObserverReport(output: string): Map<string, number> | null {
  const line = output.split('\n').reverse().find((l) => l.startsWith('{"arrivals"'));
  if (line === undefined) return null;
  return new Map(Object.entries((JSON.parse(line) as { arrivals: Record<string, number> }).arrivals));
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as BusObserverSpec;
  const key = process.env[spec.keyEnv];
  if (key === undefined || key === '') throw new Error(`${spec.keyEnv} is not set`);
  const auth = new BusAuth({ key: Buffer.from(key, 'utf8') });
  const codec = new Codec();
  const arrivals: Record<string, number> = {};
  const nc = await connect({ servers: spec.url, name: 'bench idle observer' });
  nc.subscribe(spec.subject, {
    callback: (err, m) => {
      if (err !== null) return;
      const at = performance.timeOrigin + performance.now();
      const opened = auth.open(m.subject, m.data, false);
      const msg = opened.ok ? codec.decode(opened.payload) : null;
      if (msg?.type === 'revocation.added' && arrivals[msg.value] === undefined) arrivals[msg.value] = at;
    },
  });
  await nc.flush();
  process.once('SIGTERM', () => {
    process.stdout.write(JSON.stringify({ arrivals }) + '\n', () => process.exit(0));
  });
  process.stdout.write('{"ready":true}\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => { process.stderr.write(`bus observer: ${String(err)}\n`); process.exit(1); });
}
