// A single instance without a bus (role single, no NATS): revocations apply locally,
// listeners fire, the admin routes work, the member is ready and never degraded.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ClusterNode, DelayHistogram, LocalTransport } from '../../../cluster/index.js';

describe('ClusterNode in local mode', () => {
  it('applies, notifies, lists, and is ready at once', async () => {
    const node = await ClusterNode.start({ config: { cluster: {} }, logger: pino({ level: 'silent' }), role: 'single' });
    try {
      await node.ready();
      expect(node.mode).toBe('local');
      expect(node.gate()).toEqual({ ok: true });
      expect(node.degraded()).toBe(false);
      const evicted: string[] = [];
      node.revocations.onRevoked((r) => evicted.push(r.value));
      const post = node.adminRoutes()['POST /revocations']!;
      const res = await post({ url: '/revocations' } as never, JSON.stringify({ kind: 'jti', value: 'j-1', exp: Math.floor(Date.now() / 1000) + 60 }));
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ revocation: { kind: 'jti', value: 'j-1' }, persisted: null });
      expect(node.revocations.isRevoked({ jti: 'j-1', tokenHash: '0'.repeat(64) })).toBe(true);
      expect(evicted).toEqual(['j-1']);
      await new Promise((r) => setImmediate(r)); // the loop-back copy is a duplicate
      expect(evicted).toEqual(['j-1']);
      const list = await node.adminRoutes()['GET /revocations']!({ url: '/revocations' } as never, '');
      expect(list.body).toMatchObject({ total: 1, entries: [{ value: 'j-1' }] });
      expect(node.stats()).toMatchObject({ revocations_applied_jti: 1, revocations_received_jti: 1, bus_messages_dropped_malformed_total: 0 });
      expect(node.membership.members()).toEqual([node.memberId]);
    } finally {
      await node.close();
    }
  });

  it('refuses a missing NATS password variable at start', async () => {
    await expect(ClusterNode.start({
      config: { cluster: { nats: { servers: ['nats://127.0.0.1:1'], user: 'u', password_env: 'PT_SURELY_UNSET_PW' } } },
      logger: pino({ level: 'silent' }), role: 'single',
    })).rejects.toThrow('cluster.nats.password_env: environment variable PT_SURELY_UNSET_PW is not set');
  });

  it('refuses NATS without a bus key, or with its variable unset, before connecting (closed default)', async () => {
    const start = (auth: unknown): Promise<unknown> => ClusterNode.start({
      config: { cluster: { nats: { servers: ['nats://127.0.0.1:1'] }, ...(auth === undefined ? {} : { auth }) } }, logger: pino({ level: 'silent' }), role: 'single',
    });
    await expect(start(undefined)).rejects.toThrow(/cluster\.nats needs a bus key/);
    await expect(start({ key_env: 'PT_SURELY_UNSET_KEY' })).rejects.toThrow('cluster.auth.key_env: environment variable PT_SURELY_UNSET_KEY is not set');
  });
});

describe('LocalTransport', () => {
  it('request/reply, and no responders', async () => {
    const t = new LocalTransport();
    t.subscribe('svc.*', (m) => m.respond(new Uint8Array([m.data[0]! + 1])));
    expect(await t.request('svc.a', new Uint8Array([1]), 100)).toEqual(new Uint8Array([2]));
    await expect(t.request('other', new Uint8Array([1]), 100)).rejects.toMatchObject({ code: 'BUS_NO_RESPONDERS' });
    await t.close();
  });
});

describe('DelayHistogram', () => {
  it('cumulative buckets and quantiles', () => {
    const h = new DelayHistogram(100);
    for (let i = 1; i <= 100; i++) h.record(i / 10); // 0.1 … 10 ms
    const s = h.stats('d');
    expect(s.d_bucket_le_1).toBe(10);
    expect(s.d_bucket_le_10).toBe(100);
    expect(s.d_bucket_le_inf).toBe(100);
    expect(s.d_p50).toBeCloseTo(5.1, 5);
    expect(s.d_p99).toBeCloseTo(10, 5);
    expect(s.d_max).toBe(10);
  });
});
