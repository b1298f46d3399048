// `portcullis policy status`: every member's policy status as its heartbeats on `<p>.members`
// carry it (sealed with the bus key like every bus message: an unauthentic or stale one is
// not believed). Members without cluster policy (heartbeat `policy: null`) are not listed.
import type { NatsConnection } from 'nats';
import { Codec, subjects, type BusAuth, type MemberPolicyStatus, type MemberRole } from '../protocol/index.js';

/** One member as `policy status` lists it. */
export interface MemberPolicyRow extends MemberPolicyStatus {
  readonly member: string;
  readonly role: MemberRole;
  readonly host: string;
  readonly pid: number;
}

/** Listen to heartbeats for `ms` (members beat every second): the latest word of every member with cluster policy. */
export async function collectMemberStatus(nc: NatsConnection, prefix: string, auth: BusAuth | null, ms: number): Promise<Map<string, MemberPolicyRow>> {
  const subject = subjects(prefix).members;
  const codec = new Codec();
  const out = new Map<string, MemberPolicyRow>();
  const started = new Map<string, number>(); // a goodbye signed before its member's process started is a replay
  const sub = nc.subscribe(subject);
  const timer = setTimeout(() => sub.unsubscribe(), ms);
  for await (const m of sub) {
    let payload = m.data;
    let signedAt: number | null = null;
    if (auth !== null) {
      const o = auth.open(subject, m.data, true);
      if (!o.ok) continue;
      payload = o.payload;
      signedAt = o.signedAt;
    }
    const msg = codec.decode(payload);
    if (msg === null) continue;
    if (msg.type === 'member.left') { if (signedAt === null || signedAt >= (started.get(msg.id) ?? 0)) out.delete(msg.id); }
    else if (msg.type === 'member.heartbeat' && msg.v !== 1 && msg.policy !== null) {
      if (msg.startedAt < (started.get(msg.id) ?? 0)) continue; // a replay of an earlier process's heartbeat
      // a process cannot have started after it signed: such a beat would hide every real one of that member
      if (signedAt !== null && msg.startedAt > signedAt) continue;
      started.set(msg.id, msg.startedAt);
      out.set(msg.id, { member: msg.id, role: msg.role, host: msg.host, pid: msg.pid, ...msg.policy });
    }
  }
  clearTimeout(timer);
  return out;
}
