// `portcullis policy push|status|history|rollback`: the operator's side of cluster policy
// (cluster/policy). Exit codes: 0 done / all members agree; 1 refused (stale base, lost race,
// members disagree or report an error, bus unreachable); 2 bad usage or an invalid policy.
import { hostname, userInfo } from 'node:os';
import { connect, type NatsConnection } from 'nats';
import { formatProblems, openWriter, readConfigText, splitDocument, validateLocal, type Config } from '../../node/config/index.js';
import { collectMemberStatus, latestVersion, listenForPeers, noAnswerYet, peerWaitMs, openEntry, parseYaml, PolicyConflict, PolicyStore, policyBucket, preparePolicy, pushPolicy, StalePolicyBase, type PolicyEntry } from '../policy/index.js';
import { busAuthFrom, type BusAuth } from '../protocol/index.js';
import { clusterSettings } from '../revocation/index.js';
import { jsErrorText, natsConnectionOptions, noJetStream, noJetStreamMessage, shownServers, StreamNoLeader } from '../transport/index.js';
import { UsageError } from './usage-error.js';
import { printable } from './printable.js';
import { parseCommandLine } from './command-line.js';

export const POLICY_USAGE = `Usage: portcullis policy <push|status|history|rollback> --config FILE [options]

  push --config FILE [--policy FILE] [--by NAME] [--base N] [--force]
        validate the policy (FILE's own policy keys, or --policy FILE) completely and publish it as
        the next version; exit 2 listing every error when invalid (nothing published). --base N:
        refuse unless N is still the latest version; a push that loses a race is refused too.
        --force publishes anyway. FILE with cluster.policy.source: file: published, with a warning on
        stderr (exit 0) that an instance run with FILE keeps its own file's policy.
  status --config FILE [--wait MS] [--json]
        every member's active version, digest and last error, as their heartbeats carry them
        (listens MS ms, default 2.5 heartbeat periods — 2.5 × the config's cluster.heartbeat_ms, 2500 —
        at most 600000);
        exit 1 while members disagree with the latest version or report an error
  history --config FILE [--json]
        the versions kept in the bucket (cluster.policy.history), oldest first
  rollback --config FILE --to N [--by NAME]
        publish a new version with the content of version N

FILE is the config of any instance: its cluster section says how to reach NATS and the bus key.`;


/** How long nats.js waits for each listed server when connecting, ms (then tries the next). */
const CONNECT_MS = 5_000;
/**
 * How long the bucket's reads are asked again while they get no answer (a leader elected anew
 * after its server became unreachable: nats-server takes up to ~10 s), ms; each request waits 5 s.
 */
const BUS_WAIT_MS = 20_000;

/** The server the command connected through (null before it connected). */
let via: string | null = null;

/** Longest `status --wait`, ms. */
const MAX_WAIT_MS = 600_000; // 10 min

function out(s: string): void { process.stdout.write(`${s}\n`); }
function warn(s: string): void { process.stderr.write(`portcullis: ${s}\n`); }
function die(message: string, code: number): never {
  process.stderr.write(`portcullis: ${message}\n`);
  process.exit(code);
}

interface Context { config: Config; raw: unknown; nc: NatsConnection; store: PolicyStore; auth: BusAuth | null; prefix: string; via: string }

/** Read FILE (its local part must be valid), then connect and open the bucket. */
async function open(file: string | undefined, needBus = true): Promise<Omit<Context, 'nc' | 'store' | 'via'> & { connect(): Promise<Context> }> {
  if (file === undefined) throw new UsageError(`--config FILE is required\n\n${POLICY_USAGE}`);
  const text = readConfigText(file);
  if (!text.ok) die(`invalid config ${file}: ${text.errors.length} error(s)\n${formatProblems(text.errors)}`, 2);
  const parsed = parseYaml(text.text);
  if (!parsed.ok) die(`invalid config ${file}:\n${formatProblems(parsed.errors)}`, 2);
  const local = validateLocal(parsed.raw, { env: null });
  if (!local.ok) die(`invalid config ${file}: ${local.errors.length} error(s)\n${formatProblems(local.errors)}`, 2);
  const config = local.config;
  const settings = clusterSettings(config.cluster);
  if (settings.nats === null && needBus) die(`${file}: cluster.nats is not configured (policy versions live in a JetStream bucket)`, 2);
  let auth: BusAuth | null;
  try { auth = busAuthFrom(settings.auth); } catch (err) { die((err as Error).message, 2); }
  const base = { config, raw: parsed.raw, auth, prefix: settings.prefix };
  return {
    ...base,
    async connect() {
      let nc: NatsConnection;
      // nats.js tries the listed servers in random order, each for CONNECT_MS: an unreachable one costs that much, then the next is tried.
      // Not maxReconnectAttempts 0: nats.js 2.29 then drops a second server from its list on each failed first dial (its
      // removeServer splices index -1, the last one), so with two of three unreachable the third was never tried. Unlimited
      // reconnects are bounded here by every step's own limit, and the command exits when done.
      try { nc = await connect({ ...natsConnectionOptions(settings.nats!, 'portcullis policy'), timeout: CONNECT_MS, maxReconnectAttempts: -1 }); } catch (err) { die(`cannot reach NATS: none of ${shownServers(settings.nats!.servers)} answered (each given ${CONNECT_MS / 1000} s): ${(err as Error).message}`, 1); }
      via = nc.getServer();
      const until = Date.now() + BUS_WAIT_MS;
      const opts = { bucket: policyBucket(settings.prefix), history: config.cluster.policy.history, replicas: config.cluster.policy.replicas, leaderReadsUntil: until };
      for (;;) {
        try {
          const store = await PolicyStore.open(nc, opts);
          return { ...base, nc, store, via: via! };
        } catch (err) {
          if (noAnswerYet(err) && Date.now() + 250 < until) { await new Promise((r) => setTimeout(r, 250)); continue; }
          await nc.close();
          die(`cannot open the policy bucket: ${noAnswer(err, via!)}`, 1);
        }
      }
    },
  };
}

/** The message for a bus error; for no answer, what did not answer and for how long. */
function noAnswer(err: unknown, through: string): string {
  // JetStream's own description: nats.js's message of any 503 answer ("insufficient resources" too) is "503"
  const msg = jsErrorText(err);
  // no JetStream behind the server: said at once (before, 20 s of retries, then a message about leaders and quorums)
  if (noJetStream(err)) return noJetStreamMessage(err, through);
  if (!noAnswerYet(err)) return msg;
  return `no answer from JetStream within ${BUS_WAIT_MS / 1000} s through ${through} (${msg}): the policy bucket's stream leader or JetStream's meta leader is unreachable — fewer than a quorum of the NATS servers (2 of 3) reachable from ${through}`;
}

/** The options each subcommand reads, in its usage's order. */
const SUBCOMMAND_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  push: ['config', 'policy', 'by', 'base', 'force'],
  status: ['config', 'wait', 'json'],
  history: ['config', 'json'],
  rollback: ['config', 'to', 'by'],
};

const defaultBy = (): string => { try { return `${userInfo().username}@${hostname()}`; } catch { return hostname(); } };
const short = (d: string | null): string => (d === null ? '-' : d.slice(0, 12));

export async function policy(argv: string[], usage: string = POLICY_USAGE): Promise<void> {
  try { await policyCommand(argv, usage); } catch (err) {
    // history, status and rollback said only "503" or "TIMEOUT" when JetStream did not answer
    if (via !== null && (noAnswerYet(err) || noJetStream(err) || err instanceof StreamNoLeader)) die(`${argv[0]} failed: ${noAnswer(err, via)}`, 1);
    throw err;
  }
}

async function policyCommand(argv: string[], usage: string): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = parseCommandLine('policy', {
    args: rest,
    options: {
      config: { type: 'string' }, policy: { type: 'string' }, by: { type: 'string' }, base: { type: 'string' }, force: { type: 'boolean' },
      wait: { type: 'string' }, json: { type: 'boolean' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  }, usage);
  if (values.help || sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') { out(usage); if (sub === undefined) process.exitCode = 2; return; }
  // an option of another subcommand was ignored: `rollback --base 3` rolled back with no base check
  const takes = SUBCOMMAND_OPTIONS[sub];
  const foreign = takes === undefined ? undefined : Object.keys(values).find((k) => k !== 'help' && !takes.includes(k));
  if (takes !== undefined && foreign !== undefined) throw new UsageError(`policy ${sub}: --${foreign} does not apply to ${sub} (it takes ${takes.map((k) => `--${k}`).join(', ')})`);
  if (takes !== undefined && values.config === undefined) throw new UsageError(`policy ${sub}: --config FILE is required\n\n${usage}`);
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    // beyond 2^53 the digits typed are not the number compared
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`policy ${sub}: --${name}: expected a number, got "${v}"`);
    return Number(v);
  };
  switch (sub) {
    case 'push': {
      const base = num('base', values.base);
      // a file caught half-written is often valid YAML with less in it (a scopes list cut short): never publish that
      const writing = await openWriter([values.config!, ...(values.policy === undefined ? [] : [values.policy])]);
      if (writing !== null) die(`policy push: ${writing.file} is open for writing by process ${writing.pid} (still being written?): push it once written; nothing published`, 1);
      const c = await open(values.config);
      let policyRaw: unknown = splitDocument(c.raw).policy;
      // a member's local-only file (source: cluster): before, "upstreams: required", "routes: required"
      if (values.policy === undefined && Object.keys(policyRaw as object).length === 0) die(`policy push: ${values.config} holds no policy (issuers, upstreams, routes…): give it as --policy FILE; nothing published`, 2);
      if (values.policy !== undefined) {
        const t = readConfigText(values.policy);
        if (!t.ok) die(`invalid policy ${values.policy}: ${t.errors.length} error(s), nothing published\n${formatProblems(t.errors)}`, 2);
        const p = parseYaml(t.text);
        if (!p.ok) die(`invalid policy ${values.policy}:\n${formatProblems(p.errors)}`, 2);
        policyRaw = p.raw;
      }
      const prepared = preparePolicy(c.raw, policyRaw);
      if (!prepared.ok) die(`invalid policy: ${prepared.errors.length} error(s), nothing published\n${formatProblems(prepared.errors)}`, 2);
      const ctx = await c.connect();
      try {
        // an empty bucket — the first push, or emptied under running members (purged, expired, created again): before,
        // "pushed version 1", which every member running a higher one ignored; their sealed heartbeats set the floor
        const empty = (await latestVersion(ctx.store, ctx.auth)).highest === 0;
        const floor = empty ? (await listenForPeers(ctx.nc, ctx.prefix, ctx.auth, peerWaitMs(ctx.config.cluster.heartbeat_ms)))?.version ?? 0 : 0;
        const e = await pushPolicy(ctx.store, ctx.auth, prepared.policy, { by: values.by ?? defaultBy(), ...(base === undefined ? {} : { base }), force: values.force === true, floor });
        out(`pushed version ${e.version} (digest ${short(e.digest)}, based on ${e.basedOn}, by ${e.pushedBy})`);
        if (floor > 0) warn(`note: the bucket held no version, but members run version ${floor} (their heartbeats): numbered past it — was the bucket purged, its values expired, or deleted and created again?`);
        // the push "succeeded" and the instances run with this file kept their own policy: say so (published all the same,
        // for the members with source: cluster; exit 0)
        if (ctx.config.cluster.policy.source === 'file') warn(`warning: ${values.config} has cluster.policy.source: file — an instance started with it reads the policy from its own file and does not apply version ${e.version}; only members with cluster.policy.source: cluster take pushed versions (portcullis policy status lists them)`);
      } catch (err) {
        if (err instanceof StalePolicyBase || err instanceof PolicyConflict) die(`push refused: ${err.message}`, 1);
        die(`push failed: ${noAnswer(err, ctx.via)}${noAnswerYet(err) ? ' (a write that got no answer may still have been applied: portcullis policy history shows it)' : ''}`, 1);
      } finally { await ctx.nc.close(); }
      return;
    }
    case 'status': {
      const given = num('wait', values.wait);
      // a timer past 2^31 ms fires at once: "no member reported" after 1 ms instead of a long wait
      if (given !== undefined && (given < 1 || given > MAX_WAIT_MS)) throw new UsageError(`policy status: --wait: expected milliseconds from 1 to ${MAX_WAIT_MS} (10 min), got ${given}`);
      const opened = await open(values.config);
      // every member beats within a period: two and a half of them hear each at least twice
      const waitMs = given ?? opened.config.cluster.heartbeat_ms * 2.5;
      const ctx = await opened.connect();
      try {
        const fileMembers = new Set<string>();
        const [latest, reports] = await Promise.all([latestVersion(ctx.store, ctx.auth), collectMemberStatus(ctx.nc, ctx.prefix, ctx.auth, waitMs, fileMembers)]);
        const members = [...reports.values()].sort((a, b) => (a.member < b.member ? -1 : 1));
        const fromFile = [...fileMembers].sort();
        // every instance heard reads its own file: nothing to compare and nothing wrong (exit 0, agree null);
        // nothing heard at all stays a failure (a broken bus, wrong prefix or key looks the same)
        const onlyFile = members.length === 0 && fromFile.length > 0;
        const agree = onlyFile ? null : members.length > 0 && members.every((m) => m.version === latest.version && m.digest === (latest.entry?.digest ?? null) && m.error === null);
        if (values.json) out(JSON.stringify({ latest: { version: latest.version, digest: latest.entry?.digest ?? null }, members, agree, file_members: fromFile }));
        else {
          // "no member reported" alone sent an operator of a file-policy cluster looking for a bus fault
          if (ctx.config.cluster.policy.source === 'file') out(`note: ${values.config} has cluster.policy.source: file — instances with it read their own file (GET /policy on each gives its digest); this lists those with source: cluster`);
          out(`latest version ${latest.version} (digest ${short(latest.entry?.digest ?? null)})`);
          out(['MEMBER', 'HOST', 'PID', 'VERSION', 'DIGEST', 'FROM', 'ERROR'].join('\t'));
          // member ids, hosts and errors come off the bus: a key holder's escape sequence must not reach the terminal
          for (const m of members) out([m.member, m.host, m.pid, m.version, short(m.digest), m.from, m.error ?? '-'].map((f) => printable(String(f))).join('\t'));
          out(onlyFile ? 'no member takes the cluster policy (source: cluster): nothing to compare'
            : members.length === 0 ? 'no member with cluster policy reported' : agree === true ? `all ${members.length} members run version ${latest.version}` : 'members disagree or report an error');
          if (fromFile.length > 0) out(`${fromFile.length} instance(s) heard with policy from their own file (source: file, not compared): ${printable(fromFile.join(', '))}`);
        }
        if (agree === false) process.exitCode = 1;
      } finally { await ctx.nc.close(); }
      return;
    }
    case 'history': {
      const ctx = await (await open(values.config)).connect();
      try {
        const rows = (await ctx.store.history()).map((h) => {
          const o = openEntry(h.value, ctx.store.bucket, ctx.auth);
          return o.ok
            ? { revision: h.revision, version: o.entry.version, based_on: o.entry.basedOn, digest: o.entry.digest, pushed_by: o.entry.pushedBy, pushed_at: new Date(o.entry.pushedAt).toISOString() }
            : { revision: h.revision, ignored: o.reason };
        });
        if (values.json) out(JSON.stringify(rows));
        // an empty answer read as "the command did nothing" (or the wrong bucket): say what was found
        else if (rows.length === 0) out(`no version in ${ctx.store.bucket} yet: "portcullis policy push --config FILE" publishes the first`);
        else for (const r of rows) out('ignored' in r ? `rev ${r.revision}\t(ignored: ${r.ignored})` : `v${r.version}\t${r.pushed_at}\t${printable(r.pushed_by)}\t${short(r.digest)}\tbased on ${r.based_on}`);
      } finally { await ctx.nc.close(); }
      return;
    }
    case 'rollback': {
      const to = num('to', values.to);
      if (to === undefined) throw new UsageError(`policy rollback: --to N is required\n\n${usage}`);
      const ctx = await (await open(values.config)).connect();
      try {
        let old: PolicyEntry | null = null;
        for (const h of await ctx.store.history()) {
          const o = openEntry(h.value, ctx.store.bucket, ctx.auth);
          if (o.ok && o.entry.version === to) old = o.entry;
        }
        if (old === null) die(`rollback: version ${to} is not in the bucket's history (portcullis policy history)`, 1);
        const e = await pushPolicy(ctx.store, ctx.auth, old.policy, { by: `${values.by ?? defaultBy()} (rollback to ${to})` });
        out(`rolled back: version ${e.version} has the content of version ${to} (digest ${short(e.digest)})`);
      } catch (err) {
        if (err instanceof StalePolicyBase || err instanceof PolicyConflict) die(`rollback refused: ${err.message}`, 1);
        throw err;
      } finally { await ctx.nc.close(); }
      return;
    }
    default:
      throw new UsageError(`policy: unknown subcommand "${sub}"\n\n${usage}`);
  }
}
