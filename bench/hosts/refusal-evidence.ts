// Why a surviving member may have answered 503: each refusal's reason (the answer's message) checked
// against the host's own counters over the scenario — a reconnect, a catch-up after the stream was lost, a
// stall of its loop, a `--workers` lease wait. A survivor whose bus stayed sound has none of them and must not refuse.
import type { HostsCluster, ProxyHost } from './hosts-cluster.js';

/** Counters (summed over a host's processes) that show the member had a reason to refuse. */
const COUNTERS = {
  reconnects: 'portcullis_bus_reconnects_total',
  // the stream regained after it went unanswered over a live connection (and every reconnect's replay)
  catchUps: 'portcullis_revocations_catch_ups_total',
  stalls: 'portcullis_revocations_bus_stalls_total',
  leaseWaits: 'portcullis_revocations_primary_lease_waits_total',
} as const;
export type RefusalCounters = Record<keyof typeof COUNTERS, number>;

/** The 503 message of each documented refusal and the counter that must have moved for it (token-check.ts). */
const NEEDS: ReadonlyArray<readonly [message: string, counter: keyof RefusalCounters]> = [
  ['revocations are being replayed', 'reconnects'], // catching up after its NATS connection came back
  // without a confirmed stream past fail_closed_after_ms: its connection lost, or the stream unanswered over a live one
  // (no leader elected in time: a CI run's survivor, 20 × 503 with no reconnect) — either way a catch-up followed
  ['revocation bus lost', 'catchUps'],
  ['revocations from the bus are being caught up after a stall', 'stalls'],
  ['revocations from the primary are late', 'leaseWaits'],
];

/** A host's refusal counters now, from its admin /metrics. */
export async function refusalCounters(c: HostsCluster, h: ProxyHost): Promise<RefusalCounters> {
  const o = await c.agent.call<{ status: number; body: string }>({ cmd: 'get', url: `${c.adminUrl(h)}/metrics`, headers: { authorization: `Bearer ${c.adminToken}` } });
  if (o.status !== 200) throw new Error(`${h} /metrics answered ${o.status}`);
  const value = (name: string): number => {
    const line = o.body.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? 0 : Number(line.slice(name.length + 1));
  };
  return { reconnects: value(COUNTERS.reconnects), catchUps: value(COUNTERS.catchUps), stalls: value(COUNTERS.stalls), leaseWaits: value(COUNTERS.leaseWaits) };
}

/**
 * The survivors' 503 answers (given to the client or retried elsewhere: `answers` keys are "<host:port> 503 CODE (message)")
 * that their counters do not explain, as "host: message ×n (counters)"; empty when every refusal had its reason.
 */
export function unexplainedRefusals(answers: Record<string, number>, hosts: ReadonlyArray<{ addr: string; before: RefusalCounters; after: RefusalCounters }>): string[] {
  const out: string[] = [];
  for (const [key, n] of Object.entries(answers)) {
    const host = hosts.find((x) => key.startsWith(`${x.addr} 503 `));
    if (host === undefined) continue;
    const need = NEEDS.find(([message]) => key.endsWith(`(${message})`));
    const moved = need !== undefined && host.after[need[1]] > host.before[need[1]];
    if (!moved) out.push(`${key} ×${n} (before ${JSON.stringify(host.before)}, after ${JSON.stringify(host.after)})`);
  }
  return out;
}
