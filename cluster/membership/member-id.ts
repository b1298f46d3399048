// Member ids: hostname + pid + random suffix, restricted to subject-safe characters so
// an id can be the last token of a request subject; a configured id made one per process.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** A new member id, e.g. `web-3-12345-9f2c1a`; unique per process start. */
export function newMemberId(host = hostname(), pid = process.pid): string {
  const h = host.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 48) || 'host';
  return `${h}-${pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * The id a process joins under when `cluster.member_id` is set: the id itself for a single
 * process and a node:cluster primary, `<id>-w<index>` for worker `index` of `serve --workers N`.
 * Every process of an instance is a member of its own (each answers owner requests from its own
 * memory and ignores messages carrying its own id as its echo): one id shared by the workers made
 * each one drop the others' heartbeats and DPoP records. Stable per worker slot, so a replaced
 * worker is heard as that worker restarted.
 */
export function configuredMemberId(configured: string, role: 'single' | 'worker' | 'primary', workerIndex: string | undefined = process.env.PORTCULLIS_WORKER_INDEX): string {
  if (role !== 'worker') return configured;
  const i = Number(workerIndex);
  return `${configured}-w${Number.isSafeInteger(i) && i >= 0 ? i : process.pid}`;
}
