// `portcullis policy status`: every member's policy status as its heartbeats on `<p>.members`
// carry it (sealed with the bus key like every bus message: an unauthentic or stale one is
// not believed). Members without cluster policy (heartbeat `policy: null`: `source: file`) are not
// listed, only counted, so the command can say who reads its own file instead of "no member".
import type { NatsConnection } from 'nats';
import { Codec, subjects, type BusAuth, type MemberPolicyStatus, type MemberRole } from '../protocol/index.js';

/** One member as `policy status` lists it. */
export interface MemberPolicyRow extends MemberPolicyStatus {
  readonly member: string;
  readonly role: MemberRole;
  readonly host: string;
  readonly pid: number;
}

/**
 * Listen to heartbeats for `ms` (members beat every `cluster.heartbeat_ms`, 1 s by default): the latest word of every member with cluster policy.
 * `fileMembers`, when given, receives the ids of the instances heard without cluster policy (a single process or a
 * `--workers` primary whose policy is its own file; workers and CLIs are not instances of their own).
 */
export async function collectMemberStatus(nc: NatsConnection, prefix: string, auth: BusAuth | null, ms: number, fileMembers?: Set<string>): Promise<Map<string, MemberPolicyRow>> {
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
    if (msg.type === 'member.left') { if (signedAt === null || signedAt >= (started.get(msg.id) ?? 0)) { out.delete(msg.id); fileMembers?.delete(msg.id); } }
    else if (msg.type === 'member.heartbeat') {
      if (msg.v === 1 || msg.policy === null) {
        if (msg.role === 'single' || msg.role === 'primary') fileMembers?.add(msg.id);
        continue;
      }
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
