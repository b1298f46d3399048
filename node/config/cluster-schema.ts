// The `cluster` section of portcullis.yaml: NATS connection, bus authentication, revocation
// stream, cluster policy source. Part of the one schema (schema.ts), kept apart for its size.
import { z } from 'zod';
import { envName, ms } from './schema-common.js';

/**
 * A NATS server URL or host:port without user:password or a token before `@`: nats.js never sends
 * them (it connects with `user`/`password_env`, `token_env` or `creds_file` only), so the server
 * refused the connection while the password sat in the config and in CLI messages. Refused, the
 * message naming the path and never the value.
 */
// any '@': a server has no other use for one, and a generated password with a '/' ended the old `[^@/]*@` match early
const natsServer = z.string().min(1).refine((s) => !s.includes('@'),
  'a server without user:password or token before @ (never sent: nats.js ignores them; give cluster.nats.user + password_env, token_env or creds_file)');

export const clusterSchema = z.strictObject({
  nats: z.strictObject({
    servers: z.array(natsServer).min(1),
    user: z.string().optional(),
    password_env: envName.optional(),
    token_env: envName.optional(),
    creds_file: z.string().optional(),
    /** true = TLS with the system CAs; or CA / client certificate files. */
    tls: z.union([z.boolean(), z.strictObject({ ca_file: z.string().min(1).optional(), cert_file: z.string().min(1).optional(), key_file: z.string().min(1).optional() })]).default(false),
    /** Reply-subject prefix (default _INBOX): one per NATS user, so subscribe permissions keep users out of each other's replies. */
    inbox_prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'subject tokens of letters, digits, _ and -').optional(),
  }).optional(),
  subject_prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('portcullis'),
  /** Bus lost longer than this → requests on auth routes get 503; unset = keep serving on local state. */
  fail_closed_after_ms: z.number().int().min(0).optional(),
  /** Member id on the bus (one subject token: it ends the owner request subjects); default hostname-pid-random. */
  member_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1 to 64 letters, digits, _ and - (one bus subject token)').optional(),
  /** How long start waits for the bus before serving from a revocation snapshot (without one: 503 until the first replay), ms. */
  start_timeout_ms: z.number().int().min(0).default(2_000), // 2 s
  /**
   * This member's heartbeat period on `<prefix>.members`, ms; it declares it in every beat, so peers expire it after 3 of
   * its own periods. The waits keyed to it scale with it: readiness after the bus first connects (`waiting_for: members`)
   * and a cluster-policy start's listen for its peers' versions, 1.5 periods each. ≥ 100 (each member sends one
   * sealed message per period to every other), ≤ 10 000 (the longest period a peer's beat is believed for).
   */
  heartbeat_ms: z.number().int().min(100, 'at least 100 ms: every member beats to every other once a period').max(10_000, 'at most 10000 ms: peers believe a declared period up to 10 s').default(1_000), // 1 s
  /** Authentication of bus messages between members over NATS (cluster/protocol/bus-auth.ts); node:cluster IPC needs none. */
  auth: z.strictObject({
    /** hmac: every message carries an HMAC-SHA256 with the shared key; none: unauthenticated (explicit opt-out). */
    mode: z.enum(['hmac', 'none']).default('hmac'),
    /** Env var / file with the shared key (≥ 32 bytes), the same on every member and for `portcullis revoke`. */
    key_env: envName.optional(),
    key_file: z.string().min(1).optional(),
    /** The key being rotated out: still accepted, never used to sign. */
    previous_key_env: envName.optional(),
    previous_key_file: z.string().min(1).optional(),
    /** Live messages signed further than this from now are refused as stale (replays, clock skew), ms. */
    max_age_ms: z.number().int().min(1_000).max(600_000).default(30_000), // 30 s
  }).default({}),
  revocation: z.strictObject({
    /** Longest token lifetime of any issuer, s: revocations without exp live this long (and the stream's max age); a token living longer → 401. */
    // ≤ 10 years: the stream's max age is int64 nanoseconds (past ~292 years nats-server refuses the stream for good)
    max_token_lifetime_s: z.number().int().min(60).max(315_360_000, 'at most 315360000 s (10 years): the revocation stream keeps entries this long').default(86_400), // 24 h
    /**
     * JetStream stream replicas; auto = 3 on a NATS cluster (1 when the cluster cannot place 3 at creation,
     * raised to 3 by a member once it can: tried at connect and at most every 30 s), 1 on a single server.
     */
    replicas: z.union([z.number().int().min(1).max(5), z.literal('auto')]).default('auto'),
    /** Longest a replay or catch-up may block requests before serving degraded (never before the first replay), ms. */
    catch_up_timeout_ms: z.number().int().min(0).default(10_000), // 10 s
    /** Bound of the revocation store, entries: new revocations beyond it are refused (admin 507); one arriving from the bus closes the gate until it expires. */
    max_entries: z.number().int().min(1).default(100_000),
    /** Bound of the revocation store by its own estimate of its heap (~700 B + the strings per entry), bytes. */
    max_bytes: z.number().int().min(1024 * 1024).default(128 * 1024 * 1024), // 128 MiB
    /** How often the store drops entries past their expiry and linger, s: an expired entry stays up to this much longer (memory, `GET /revocations`); each sweep walks every entry. */
    sweep_interval_s: z.number().int().min(1).max(3_600).default(60), // 1 min
    /** Persist the store here (0600, atomic rename) so a restart while the bus is down can serve from it; under `serve --workers N` the primary writes it, workers only load it. */
    snapshot_file: z.string().min(1).optional(),
    /** A snapshot whose state was last caught up longer ago than this is not served from, s. */
    snapshot_max_age_s: z.number().int().min(1).default(300), // 5 min
    /** Shortest interval between two snapshot writes, ms. */
    snapshot_interval_ms: z.number().int().min(0).default(1_000), // 1 s
    /**
     * Who receives live revocations from NATS: main = the request thread's own subscription only; thread = also a receiver
     * thread per process with its own NATS connection, verifying each message and writing it to shared memory every
     * revocation check reads first (cluster/revocation/revocation-receiver.ts). Only with cluster.nats.
     */
    receiver: z.enum(['main', 'thread']).default('main'),
    /** Direct push of revocations member to member over TCP, beside NATS (cluster/revocation/revocation-direct.ts); absent = off. */
    direct: z.strictObject({
      /** host:port to listen on for peers' pushes; port 0 = any free port (told to peers in the heartbeat); with --workers N a fixed port P means P … P+N−1. */
      listen: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):\d{1,5}$/, 'host:port ([v6]:port)').default('127.0.0.1:0'),
      /** Host peers connect to, when the bound address is not reachable for them (listen on 0.0.0.0, NAT); default the bound address. */
      advertise: z.string().regex(/^[^\s:[\]]+$|^[0-9A-Fa-f:.]+$/, 'a host name or IP address, without port').optional(),
    }).optional(),
  }).default({}),
  /** Where this instance's policy (node/config/policy-split.ts) comes from (cluster/policy). */
  policy: z.strictObject({
    /** file: this config file's own policy (reloaded from the file); cluster: the versions pushed to the bus (`portcullis policy push`). */
    source: z.enum(['file', 'cluster']).default('file'),
    /** The last applied cluster version is persisted here (0600, atomic rename): a restart while NATS is down starts from it. */
    state_file: z.string().min(1).optional(),
    /** Versions kept in the KV bucket (`policy history`, `policy rollback`). */
    history: z.number().int().min(1).max(64).default(16),
    /** KV bucket replicas; auto = min(3, servers in the NATS cluster). */
    replicas: z.union([z.number().int().min(1).max(5), z.literal('auto')]).default('auto'),
    /** Every response this instance produces or forwards carries `X-Portcullis-Policy: <version> sha256:<12 hex>` (README: Cluster policy). Off: not a byte more. */
    response_header: z.boolean().default(false),
  }).default({}),
}).superRefine((c, ctx) => {
  if (c.policy.source === 'cluster' && c.nats === undefined) {
    ctx.addIssue({ code: 'custom', path: ['policy', 'source'], message: 'cluster needs cluster.nats (the policy versions live in a JetStream bucket); without NATS use source: file' });
  }
  if (c.revocation.direct !== undefined && c.nats === undefined) {
    ctx.addIssue({ code: 'custom', path: ['revocation', 'direct'], message: 'needs cluster.nats: the direct push is a second delivery of the NATS message (the stream stays the guarantee)' });
  }
  if (c.revocation.direct !== undefined && c.auth.mode !== 'hmac') {
    ctx.addIssue({ code: 'custom', path: ['revocation', 'direct'], message: 'needs cluster.auth.mode: hmac — an unauthenticated direct port would let anyone who reaches it revoke at will' });
  }
  if (c.revocation.direct !== undefined && c.nats !== undefined && c.nats.tls !== false) {
    ctx.addIssue({ code: 'custom', path: ['revocation', 'direct'], message: 'not with cluster.nats.tls: the direct push is plain TCP (authenticated by the bus HMAC, not encrypted), so it would carry the revocations (subjects, client ids) in the clear beside an encrypted bus' });
  }
  const a = c.auth;
  if (a.key_env !== undefined && a.key_file !== undefined) ctx.addIssue({ code: 'custom', path: ['auth', 'key_file'], message: 'give key_env or key_file, not both' });
  if (a.previous_key_env !== undefined && a.previous_key_file !== undefined) ctx.addIssue({ code: 'custom', path: ['auth', 'previous_key_file'], message: 'give previous_key_env or previous_key_file, not both' });
  const keyed = a.key_env !== undefined || a.key_file !== undefined;
  if (a.mode === 'none' && (keyed || a.previous_key_env !== undefined || a.previous_key_file !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['auth', 'mode'], message: 'mode none uses no key: remove the key settings, or use mode hmac' });
  } else if (a.mode === 'hmac' && !keyed && (c.nats !== undefined || a.previous_key_env !== undefined || a.previous_key_file !== undefined)) {
    ctx.addIssue({
      code: 'custom', path: ['auth', 'key_env'],
      message: 'required with cluster.nats: a shared bus key (key_env or key_file, 32+ random bytes, the same on every member); mode: none opts out of bus authentication',
    });
  }
}).default({});
