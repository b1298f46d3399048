// Multi-host scenario f, cluster-wide policy: version 1 pushed and every proxy switched to
// `cluster.policy.source: cluster`, then version 2 pushed while one host is cut off, and what that
// host (c) answers until it converges. Run it last (the proxies stay on cluster policy).
import type { HostsCluster, ProxyHost } from './hosts-cluster.js';
import { PROXY_HOSTS } from './hosts-cluster.js';
import { mint, msBetween, nowNs, round, sleep, statuses } from './scenarios.js';

export interface PolicyPushResult {
  /** Proxies restarted here with `cluster.policy.source: cluster` on version 1, all three at once: ms until each is ready ([] when a rolling restart switched them before, see `pushFirstVersion`). */
  switchMs: number[];
  /** The host cut off while version 2 was pushed, and which hosts led the policy bucket's stream and JetStream's meta group just before. */
  cutHost: ProxyHost; leadersAtCut: { bucket: ProxyHost | null; meta: ProxyHost | null };
  /** `policy push` runs it took (a timeout while JetStream re-elects the bucket's leader is retried). */
  pushAttempts: number;
  /** …of which killed after PUSH_ATTEMPT_MS without an answer (the CLI hung). */
  pushAttemptsKilled: number;
  /** The last line the CLI wrote for each failed attempt, with its ms ("killed" when it said nothing). */
  pushFailures: string[];
  /** Version 2 pushed while the host is cut off: first push attempt → the others refuse the token (403), ms. */
  appliedElsewhereMs: number;
  cutMs: number;
  /** Answers at the cut host by kind after the link came back, until every token got 403 (version 2). */
  answers: Record<string, number>;
  /** 200 answers at the cut host after the link came back (served by the old version 1). */
  servedOld: number;
  /** Link up → every token refused at the cut host with 403 (version 2 applied), ms; null: not within the deadline. */
  convergedMs: number | null;
  /** `portcullis policy status` after it: exit code and each member's version. */
  status: { code: number | null; versions: number[] };
}

/**
 * How long scenario f lets one `policy push` attempt run before it kills and retries it, ms: the
 * CLI's own bound with one server unreachable (5 s for a dial to it, 20 s of leader reads, a 5 s write)
 * and some slack; a kill now means the CLI broke its bound.
 */
const PUSH_ATTEMPT_MS = 40_000;

/**
 * Version 1 (the policy of the proxies' files) pushed from the client host as an operator does;
 * every proxy started from now on uses `cluster.policy.source: cluster`. A rolling restart after
 * it (scenario e) switches them one at a time under load; otherwise f switches them itself.
 */
export async function pushFirstVersion(c: HostsCluster): Promise<void> {
  const v1 = await c.policyCli(['push', '--by', 'hosts-f'], c.policyDocument(['orders:read']));
  if (v1.code !== 0) throw new Error(`policy push (version 1) failed: ${v1.stderr}`);
  c.policySource = 'cluster';
}

/** Which hosts lead the policy bucket's stream and JetStream's meta group (null: none named). */
async function leaders(c: HostsCluster): Promise<PolicyPushResult['leadersAtCut']> {
  return { bucket: await c.streamLeader('_POLICY').catch(() => null), meta: await c.metaLeader() };
}

/**
 * f. Cluster-wide policy across hosts: every proxy on `cluster.policy.source: cluster` (version 1),
 * then version 2 (the route needs a scope the tokens lack) pushed while c's link is down: a and b
 * apply it; once the link is back c converges on it. Counts what c answered meanwhile.
 */
export async function policyPushConverges(c: HostsCluster, count: number, cutMs: number): Promise<PolicyPushResult> {
  let switchMs: number[] = [];
  if (c.policySource === 'file') {
    await pushFirstVersion(c);
    // all three at once: no load runs here and nothing is measured across the switch (scenario e
    // is the one-at-a-time restart); one after another cost ~3 × 8 s of the CI test
    switchMs = await Promise.all(PROXY_HOSTS.map(async (h) => {
      const t0 = Date.now();
      await c.stopProxy(h);
      await c.startProxy(h);
      await c.waitReady(h);
      return Date.now() - t0;
    }));
  }
  const tokens = await mint(c, 'jwt', count);
  const warm = await statuses(c, PROXY_HOSTS, tokens);
  for (const h of PROXY_HOSTS) if (!warm[h].every((x) => x === 200)) throw new Error(`tokens not served at ${h} under version 1: ${warm[h].join(',')}`);
  const cutHost: ProxyHost = 'c';
  // recorded because the push's failed attempts are not explained by an election: they came as
  // well with c leading neither the bucket nor the meta group (see the README's f row)
  const leadersAtCut = await leaders(c);
  const others = PROXY_HOSTS.filter((h) => h !== cutHost);
  c.link(cutHost, 'down');
  const cutAt = Date.now();
  let appliedElsewhereMs: number;
  let pushAttempts = 0;
  let pushAttemptsKilled = 0;
  const pushFailures: string[] = [];
  try {
    const pushedAt = Date.now();
    // as an operator would: retry while JetStream elects a new leader for the bucket (its leader
    // may have been the cut host's server); `--base 1` makes a retry after a lost acknowledgement
    // safe (refused as stale when version 2 was written after all)
    // An attempt is given PUSH_ATTEMPT_MS, then killed and retried. Until 2026-12-06 attempts failed
    // with TIMEOUT or hung: the CLI's direct get and history consumer were served by c's replica too,
    // and nats.js's abandoned dial to c kept the process alive after its work; the CLI now reads from
    // the stream leader (asked again up to 20 s while one is elected) and exits when done.
    for (let attempt = 1; ; attempt++) {
      const attemptAt = Date.now();
      const v2 = await c.policyCli(['push', '--by', 'hosts-f', '--base', '1'], c.policyDocument(['orders:write']), PUSH_ATTEMPT_MS);
      if (v2.code === 0 || /stale base/.test(v2.stderr)) { pushAttempts = attempt; break; }
      if (v2.code === null) pushAttemptsKilled++;
      pushFailures.push(`${Date.now() - attemptAt} ms: ${v2.code === null ? 'killed' : v2.stderr.trim().split('\n').at(-1)?.slice(0, 200)}`);
      // 120 s: one clean-clone CI run still saw TIMEOUT after 60 s (the bucket's new leader; 4 attempts alone)
      if (Date.now() - pushedAt > 120_000) throw new Error(`policy push (version 2) failed for 120 s (${attempt} attempts): ${v2.stderr}`);
      await sleep(500);
    }
    for (;;) {
      const s = await statuses(c, others, tokens);
      if (others.every((h) => s[h].every((x) => x === 403))) break;
      if (Date.now() - pushedAt > 30_000) throw new Error(`version 2 not applied at ${others.join(' and ')} within 30 s: ${JSON.stringify(s)}`);
      await sleep(50);
    }
    appliedElsewhereMs = Date.now() - pushedAt;
    const left = cutMs - (Date.now() - cutAt);
    if (left > 0) await sleep(left);
  } catch (err) {
    c.link(cutHost, 'up');
    throw err;
  }
  const sweep = c.agent.call<{ counts: Record<string, number>; served: number; firstAnswer: string | null; all401: string | null }>({ cmd: 'sweep', url: c.apiUrl(cutHost), tokens, timeoutMs: 90_000, until: 403 });
  await sleep(500);
  const upAt = nowNs();
  c.link(cutHost, 'up');
  const s = await sweep;
  let status = await c.policyCli(['status', '--json']);
  for (let i = 0; i < 10 && status.code !== 0; i++) { await sleep(1_000); status = await c.policyCli(['status', '--json']); }
  let versions: number[] = [];
  try { versions = (JSON.parse(status.stdout) as { members: Array<{ version: number }> }).members.map((m) => m.version); } catch { /* reported as is */ }
  return {
    switchMs, cutHost, leadersAtCut, pushAttempts, pushAttemptsKilled, pushFailures, appliedElsewhereMs, cutMs: Date.now() - cutAt, answers: s.counts, servedOld: s.served,
    convergedMs: s.all401 === null ? null : round(msBetween(upAt, s.all401)), status: { code: status.code, versions },
  };
}
