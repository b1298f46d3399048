// The owner's kept results under a flood of junk tokens: "inactive" results make room among
// themselves only, so a good token's kept answer is still handed to the next asker without a call.
import { describe, expect, it } from 'vitest';
import { LeaseTable, leaseId } from '../../../../cluster/cache-sync/lease-table.js';
import type { IntrospectionResult } from '../../../../node/contracts/index.js';

const active: IntrospectionResult = { active: true, claims: { sub: 'alice' }, expiresAt: 60_000 };
const inactive: IntrospectionResult = { active: false, claims: null, expiresAt: 60_000 };

describe('LeaseTable kept results', () => {
  it('a flood of inactive results never pushes out an active one', () => {
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 100, maxResults: 4, now: () => 0 });
    t.complete(leaseId('demo', 'good'), 'demo', active, true);
    for (let i = 0; i < 50; i++) t.complete(leaseId('demo', `junk${i}`), 'demo', inactive, true);
    expect(t.kept).toBe(4);
    expect(t.acquire(leaseId('demo', 'good'), 'm2')).toEqual({ status: 'cached', result: active });
    expect(t.acquire(leaseId('demo', 'junk49'), 'm2')).toEqual({ status: 'cached', result: inactive });
    // active ones push the inactive ones out first, then each other, oldest first
    for (let i = 0; i < 4; i++) t.complete(leaseId('demo', `good${i}`), 'demo', active, true);
    expect(t.acquire(leaseId('demo', 'good'), 'm2').status).toBe('granted');
    expect(t.acquire(leaseId('demo', 'good3'), 'm2').status).toBe('cached');
    t.complete(leaseId('demo', 'junk-late'), 'demo', inactive, true);
    expect(t.acquire(leaseId('demo', 'junk-late'), 'm2').status).toBe('granted');
    expect(t.kept).toBe(4);
  });
});

describe('LeaseTable kept results over time', () => {
  it('an expired active result makes room for an inactive one', () => {
    let now = 0;
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 100, maxResults: 1, now: () => now });
    t.complete(leaseId('demo', 'old'), 'demo', { ...active, expiresAt: 100 }, true);
    now = 200;
    t.complete(leaseId('demo', 'junk'), 'demo', inactive, true);
    expect(t.acquire(leaseId('demo', 'junk'), 'm2')).toEqual({ status: 'cached', result: inactive });
  });
});

describe('LeaseTable kept results: an expired one makes room wherever it sits', () => {
  it('a dead active result kept after a live one makes room for an inactive one', () => {
    let now = 0;
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 100, maxResults: 2, now: () => now });
    t.complete(leaseId('demo', 'live'), 'demo', { ...active, expiresAt: 10_000 }, true);
    t.complete(leaseId('demo', 'dead'), 'demo', { ...active, expiresAt: 100 }, true);
    now = 200;
    // before: only the oldest (live) was looked at, so the junk answer was not kept and every asker was granted a call
    t.complete(leaseId('demo', 'junk'), 'demo', inactive, true);
    expect(t.acquire(leaseId('demo', 'junk'), 'm2').status).toBe('cached');
    expect(t.acquire(leaseId('demo', 'live'), 'm2').status).toBe('cached');
  });
});

describe('LeaseTable: a newer result not kept still replaces the older one', () => {
  it('an inactive result expired on arrival (negative_ttl_s 0) takes the kept active one out', () => {
    let now = 0;
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 100, maxResults: 4, now: () => now });
    t.complete(leaseId('demo', 'tok'), 'demo', active, true);
    now = 1_000;
    t.complete(leaseId('demo', 'tok'), 'demo', { ...inactive, expiresAt: 1_000 }, true);
    expect(t.acquire(leaseId('demo', 'tok'), 'm2').status).toBe('granted');
    expect(t.kept).toBe(0);
  });
});

describe('LeaseTable kept results under a stepped wall clock', () => {
  it('stepped back an hour: a kept result is handed out for the real time it had left, restated on the stepped clock, then asked again', () => {
    let wall = 1_000_000;
    let mono = 0;
    const t = new LeaseTable({ leaseMs: 1_000, maxLeases: 100, maxResults: 4, now: () => wall, mono: () => mono });
    const id = leaseId('demo', 'tok');
    t.complete(id, 'demo', { ...active, expiresAt: wall + 60_000 }, true); // cache_ttl_s 60
    wall -= 3_600_000; // NTP steps the wall clock back an hour
    mono += 10_000;
    // 50 s left in real time: the asker is told so on the wall clock it reads now, not 1 h 50 s
    expect(t.acquire(id, 'm2')).toEqual({ status: 'cached', result: { ...active, expiresAt: wall + 50_000 } });
    mono += 50_000;
    // before: kept (and handed out) until the stepped wall clock reached its expiry, an hour later
    expect(t.acquire(id, 'm2').status).toBe('granted');
  });
});
