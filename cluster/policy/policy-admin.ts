// Admin API of cluster policy: GET /policy (the active version, digest, last error, and every
// member's as their heartbeats last said) and
// POST /policy (body: a policy in YAML or JSON; `?base=N` refuses it when N is no longer the
// latest version, `&force=1` publishes anyway, `force=0` does not — another value of force is a 400, as is any other parameter). Both need the admin token (admin-server.ts).
import { hostname } from 'node:os';
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { adminQuery } from '../../node/admin/admin-query.js';
import { preparePolicy, parseYaml } from './policy-document.js';
import { StalePolicyBase, staleBaseMessage } from './policy-push.js';
import { PolicyConflict } from './policy-store.js';
import type { PolicyWatcher } from './policy-watcher.js';
import type { MemberPolicyStatus, MemberRole } from '../protocol/index.js';

/** A live member as this member's heartbeat view knows it (cluster/membership MemberInfo). */
export interface PeerView { readonly id: string; readonly role: MemberRole; readonly host: string; readonly pid: number; readonly policy: MemberPolicyStatus | null }

/** `members`: this one first, then every peer whose heartbeat carries a policy status, as `policy status` lists them. */
function membersOf(watcher: PolicyWatcher, peers: () => readonly PeerView[]): Array<Record<string, unknown>> {
  const row = (id: string, host: string, pid: number, s: MemberPolicyStatus): Record<string, unknown> =>
    ({ member: id, host, pid, version: s.version, digest: s.digest, from: s.from, latest_seen: s.latestSeen, error: s.error });
  const self = watcher.status();
  return [
    row(String(self.member), hostname(), process.pid, watcher.memberStatus()),
    ...peers().flatMap((p) => (p.policy === null ? [] : [row(p.id, p.host, p.pid, p.policy)])),
  ];
}

export function policyAdminRoutes(watcher: PolicyWatcher, memberId: string, peers: () => readonly PeerView[] = () => []): Record<string, AdminHandler> {
  return {
    'GET /policy': async () => ({ status: 200, body: { ...watcher.status(), members: membersOf(watcher, peers) } }),
    'POST /policy': async (req, body) => {
      const q = adminQuery(req.url, ['base', 'force']);
      if (!q.ok) return { status: q.status, body: q.body };
      const baseText = q.get('base');
      if (baseText !== null && !/^\d+$/.test(baseText)) return { status: 400, body: { error: 'invalid_request', message: 'base: a version number' } };
      // `force=true` or a bare `?force` used to read as no force: the push was refused as stale, as if force were not there
      const forceText = q.get('force');
      // `force=0` says "no force" in words a user may reasonably write (before: 400); anything else but 1 stays a 400
      if (forceText !== null && forceText !== '1' && forceText !== '0') return { status: 400, body: { error: 'invalid_request', message: 'force: expected 1 (publish even when base is no longer the latest version) or 0 (do not)' } };
      const parsed = parseYaml(body);
      if (!parsed.ok) return { status: 422, body: { pushed: false, errors: parsed.errors } };
      const p = preparePolicy(watcher.localRaw, parsed.raw);
      if (!p.ok) return { status: 422, body: { pushed: false, errors: p.errors } };
      // past every version this member and its peers run: after the bucket was emptied under them it numbers from 0.
      // Peers only with a bus key (sealed heartbeats): without one a heartbeat proves nothing and sets no floor, as at
      // start and in `policy push` — before, one unsigned beat claiming version 2^53 − 2 numbered this push 2^53 − 1,
      // after which no push had a number left
      const rows = watcher.auth === null ? membersOf(watcher, () => []) : membersOf(watcher, peers);
      const floor = Math.max(0, ...rows.map((m) => (Number.isSafeInteger(m.version) ? m.version as number : 0)));
      try {
        const e = await watcher.push(p.policy as Record<string, unknown>, { by: `admin-api@${memberId}`, ...(baseText === null ? {} : { base: Number(baseText) }), force: forceText === '1', floor });
        return { status: 200, body: { pushed: true, version: e.version, digest: e.digest, based_on: e.basedOn } };
      } catch (err) {
        if (err instanceof StalePolicyBase) return { status: 409, body: { pushed: false, error: 'conflict', message: staleBaseMessage(err.base, err.latest, 'GET /policy', '?force=1') } };
        if (err instanceof PolicyConflict) return { status: 409, body: { pushed: false, error: 'conflict', message: err.message } };
        return { status: 503, body: { pushed: false, error: 'unavailable', message: (err as Error).message } };
      }
    },
  };
}
