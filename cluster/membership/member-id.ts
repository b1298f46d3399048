// Member ids: hostname + pid + random suffix, restricted to subject-safe characters so
// an id can be the last token of a request subject.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** A new member id, e.g. `web-3-12345-9f2c1a`; unique per process start. */
export function newMemberId(host = hostname(), pid = process.pid): string {
  const h = host.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 48) || 'host';
  return `${h}-${pid}-${randomBytes(3).toString('hex')}`;
}
