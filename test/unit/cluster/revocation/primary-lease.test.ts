// A worker's lease on its primary's channel: fresh for 500 ms after a message sent then; a request that finds
// it stale waits for the next fresh message, or is refused after the wait; the channel's stamped messages parse.
import { afterEach, describe, expect, it } from 'vitest';
import { hostMonoMs, PrimaryLease } from '../../../../cluster/revocation/primary-lease.js';
import { parseWorkerChannel } from '../../../../cluster/protocol/messages.js';

const leases: PrimaryLease[] = [];
const lease = (leaseMs: number, waitMs: number): PrimaryLease => { const l = new PrimaryLease(leaseMs, waitMs); leases.push(l); return l; };
afterEach(() => { for (const l of leases.splice(0)) l.close(); });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('PrimaryLease', () => {
  it('is not current before anything was heard, and is after a message sent just now', async () => {
    const l = lease(500, 50);
    const first = l.current();
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe(false);
    l.heard(hostMonoMs());
    expect(l.current()).toBe(true);
    expect(l.stats()).toEqual({ revocations_primary_lease_waits_total: 1, revocations_primary_lease_expired_total: 1 });
  });

  it('counts the age of what was read: a message sent longer ago than the lease does not renew it', async () => {
    const l = lease(500, 50);
    l.heard(hostMonoMs() - 600);
    const c = l.current();
    expect(c).toBeInstanceOf(Promise);
    expect(await c).toBe(false);
    l.heard(hostMonoMs() - 400);
    expect(l.current()).toBe(true);
  });

  it('runs out, and releases a waiting request when a fresh message is read', async () => {
    const l = lease(30, 5_000);
    l.heard(hostMonoMs());
    await sleep(60);
    const c = l.current();
    expect(c).toBeInstanceOf(Promise);
    let settled: boolean | null = null;
    void (c as Promise<boolean>).then((x) => { settled = x; });
    await sleep(20);
    expect(settled).toBe(null);
    l.heard(hostMonoMs());
    await sleep(0);
    expect(settled).toBe(true);
    expect(l.stats().revocations_primary_lease_expired_total).toBe(0);
  });
});

describe('the worker channel\'s stamps', () => {
  it('a tick and a handed page carry `at`; without a valid one they are not channel messages', () => {
    expect(parseWorkerChannel({ type: 'revocation.tick', v: 1, at: 12.5 })).toEqual({ type: 'revocation.tick', v: 1, at: 12.5 });
    expect(parseWorkerChannel({ type: 'revocation.handed', v: 1, records: [], sync: 'last', at: 3 })).toEqual({ type: 'revocation.handed', v: 1, records: [], sync: 'last', at: 3 });
    for (const at of [undefined, -1, Number.NaN, '5', Number.POSITIVE_INFINITY]) {
      expect(parseWorkerChannel({ type: 'revocation.tick', v: 1, at })).toBe(null);
      expect(parseWorkerChannel({ type: 'revocation.handed', v: 1, records: [], sync: 'live', at })).toBe(null);
    }
    expect(parseWorkerChannel({ type: 'revocation.overflowed', v: 1 })).toEqual({ type: 'revocation.overflowed', v: 1 });
  });
});
