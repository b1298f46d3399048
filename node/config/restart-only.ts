// The fields of portcullis.yaml read only when a process starts (listeners, workers, admin, logger,
// tracing, cluster connection, verifier pool): a reload applies everything else. One list, so that
// a reload names each such field it could not apply, and a worker restarted later keeps them too.
import type { Config } from './schema.js';

/** Dotted paths read at start only (`event_sources.*.poll`: each source's poll loop, started once). */
export const RESTART_ONLY_FIELDS: readonly string[] = [
  'server.listen', 'server.tls', 'server.workers', 'server.min_semi_space_mb', 'server.worker_silence_kill_ms', 'server.http2', 'server.decision', 'server.websocket',
  'admin.listen', 'admin.token_env', 'admin.metrics_token_env', 'admin.max_connections',
  'log.level', 'log.format', 'log.access', 'log.buffer_bytes', 'log.audit',
  'tracing', 'verifier',
  // the bus connection and the member on it; only cluster.policy.response_header is read per snapshot
  'cluster.nats', 'cluster.subject_prefix', 'cluster.fail_closed_after_ms', 'cluster.member_id', 'cluster.start_timeout_ms', 'cluster.heartbeat_ms',
  'cluster.auth', 'cluster.revocation', 'cluster.policy.source', 'cluster.policy.state_file', 'cluster.policy.history', 'cluster.policy.replicas',
  'event_sources.*.poll',
];

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The concrete paths of `field` in `a` and `b` (a `*` segment: every key either has there). */
function expand(field: string, a: unknown, b: unknown): string[] {
  const segs = field.split('.');
  let paths: Array<{ path: string[]; a: unknown; b: unknown }> = [{ path: [], a, b }];
  for (const s of segs) {
    const next: typeof paths = [];
    for (const p of paths) {
      const ta = isTree(p.a) ? p.a : {};
      const tb = isTree(p.b) ? p.b : {};
      const keys = s === '*' ? [...new Set([...Object.keys(ta), ...Object.keys(tb)])] : [s];
      for (const k of keys) next.push({ path: [...p.path, k], a: ta[k], b: tb[k] });
    }
    paths = next;
  }
  return paths.filter((p) => !sameValue(p.a, p.b)).map((p) => p.path.join('.'));
}

/** Deep equality of parsed config values (plain data; object key order ignored). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  if (!isTree(a) || !isTree(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameValue(a[k], b[k]));
}

/**
 * The RESTART_ONLY_FIELDS paths whose value in `next` differs from `started` (the config the
 * process started with), in list order: what a reload to `next` leaves unapplied until a restart.
 * Empty = `next` is applied whole.
 */
export function restartOnlyChanges(started: Config, next: Config): string[] {
  return RESTART_ONLY_FIELDS.flatMap((f) => expand(f, started, next));
}

/**
 * `next` with every RESTART_ONLY_FIELDS value taken from `started`: what a process that started
 * on `started` runs after reloading `next` (its snapshot then says what it really runs, and a
 * worker restarted after such a reload runs what the other workers run). `next` itself when
 * nothing differs; otherwise only the objects on the changed paths are copied (a large config's
 * routes are shared, not cloned). A `*` entry missing from `next` is not created. Never throws.
 */
export function withStartFields(next: Config, started: Config): Config {
  const changed = restartOnlyChanges(started, next);
  if (changed.length === 0) return next;
  const out: Tree = { ...(next as unknown as Tree) };
  for (const path of changed) {
    const segs = path.split('.');
    let from: unknown = started;
    for (const s of segs) from = isTree(from) ? from[s] : undefined;
    let to: Tree | null = out;
    for (const s of segs.slice(0, -1)) {
      const child: unknown = to[s];
      // a parent `next` lacks (an event source it removed): nothing of it is brought back
      if (!isTree(child)) { to = null; break; }
      const copy: Tree = { ...child };
      to[s] = copy;
      to = copy;
    }
    if (to === null) continue;
    const last = segs[segs.length - 1]!;
    if (from === undefined) delete to[last];
    else to[last] = from;
  }
  return out as unknown as Config;
}
