// Checking a policy version at an instance: a small policy is checked on the calling thread, a
// large one in the validation thread, and both give the same verdict — the config as a full
// validation gives it (frozen), a refusal naming the missing secret with its path, or
// "ignored: corrupt" for bytes that are not an entry.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { validateConfig } from '../../../node/config/index.js';
import { checkVersion, checkVersionFor, INLINE_MAX_BYTES, newEntry, preparePolicy, sealEntry, TRANSFER_SLICE, warmCheck } from '../../../cluster/policy/index.js';

const local = { server: { listen: { host: '127.0.0.1', port: 0 } }, admin: { listen: { host: '127.0.0.1', port: 0 } } };
const policy = (routes: number, extra: Record<string, unknown> = {}): Record<string, unknown> & { routes: Array<{ name: string }> } => ({
  upstreams: { app: { targets: ['http://127.0.0.1:1'] } },
  issuers: { main: { issuer: 'https://as.example', audiences: ['api'] } },
  routes: Array.from({ length: routes }, (_, i) => ({ name: `r${i}`, match: { path: `/r/${i}/*` }, upstream: 'app', auth: { scopes: { all: [`scope-${i}`] } } })),
  ...extra,
});
const payload = (p: Record<string, unknown>, version = 1): Uint8Array => sealEntry(newEntry(p, version, version - 1, 'test'), 'PT_POLICY', null);

describe('policy version check', () => {
  it('small and large policies: the same verdict as a full validation, on either side of the size limit', async () => {
    // 2 500: back from the thread in slices of TRANSFER_SLICE routes, reassembled in order
    for (const routes of [3, 1_000, 2_500]) {
      const p = policy(routes);
      expect(JSON.stringify(p).length > INLINE_MAX_BYTES).toBe(routes > 3);
      const r = await checkVersionFor(local, payload(p));
      if (r.kind !== 'entry' || !r.verdict.ok) throw new Error(JSON.stringify(r).slice(0, 500));
      const full = validateConfig({ ...local, ...p });
      if (!full.ok) throw new Error('fixture invalid');
      expect(r.verdict.config).toEqual(full.config);
      expect(Object.isFrozen(r.verdict.config.routes[0])).toBe(true);
      expect(Object.isFrozen(r.verdict.config.routes.at(-1))).toBe(true);
      if (routes > TRANSFER_SLICE) expect(r.verdict.config.routes.map((x) => x.name)).toEqual(p.routes.map((x) => x.name));
      expect(r.entry.version).toBe(1);
      expect(JSON.parse(r.entry.policyJson)).toEqual(p);
    }
  }, 60_000);

  it('a secret this instance lacks: refused as environment, with its path, on either side of the limit', async () => {
    for (const routes of [3, 1_000]) {
      const p = policy(routes, { upstreams: { app: { targets: ['http://127.0.0.1:1'], client_credentials: { issuer: 'main', client_id: 'c', client_secret_env: 'PORTCULLIS_TEST_SECRET_NOT_SET' } } } });
      const r = await checkVersionFor(local, payload(p));
      if (r.kind !== 'entry') throw new Error(JSON.stringify(r));
      expect(r.verdict).toEqual({ ok: false, kind: 'environment', errors: [expect.objectContaining({ path: 'upstreams.app.client_credentials.client_secret_env' })] });
      expect(checkVersion(local, payload(p), process.env).kind).toBe('entry');
    }
  }, 60_000);

  it('a state or snapshot folder gone since the start does not refuse a pushed version (those paths are restart-only: the push cannot change them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-pv-'));
    const gone = join(dir, 'state');
    mkdirSync(gone);
    const member = {
      ...local,
      cluster: { nats: { servers: ['nats://127.0.0.1:9'] }, auth: { mode: 'none' }, policy: { source: 'cluster', state_file: join(gone, 'policy.json') }, revocation: { snapshot_file: join(gone, 'revocations.json') } },
    };
    const before = await checkVersionFor(member, payload(policy(3)));
    expect(before.kind === 'entry' && before.verdict.ok).toBe(true);
    rmSync(gone, { recursive: true }); // a tmpfiles clean-up, an operator's rm: the member keeps running
    const r = await checkVersionFor(member, payload(policy(3), 2));
    if (r.kind !== 'entry') throw new Error(JSON.stringify(r));
    expect(r.verdict.ok ? [] : r.verdict.errors).toEqual([]);
    rmSync(dir, { recursive: true });
  }, 60_000);

  it('a stored version with a route an earlier one hides (pushed by an older build): served here as every older member serves it, the hidden route named; a push of it is refused', async () => {
    // before, the member refused it: a restarted or upgraded member stayed on its old version (or not ready at all)
    // while the older members ran it — two policies in one cluster during an upgrade
    for (const routes of [3, 1_000]) {
      const p = policy(routes);
      (p.routes as unknown[]).push({ name: 'r0-again', match: { path: '/r/0/*' }, upstream: 'app', auth: 'none' });
      const r = await checkVersionFor(local, payload(p, 7));
      if (r.kind !== 'entry' || !r.verdict.ok) throw new Error(JSON.stringify(r).slice(0, 500));
      expect(r.verdict.config.routes.at(-1)?.name).toBe('r0-again');
      expect(r.verdict.hidden).toEqual([expect.objectContaining({ path: `routes[${routes}].match`, message: expect.stringMatching(/^route "r0-again" is never matched: route "r0"/) })]);
      const pushed = preparePolicy(local, p);
      expect(pushed.ok ? [] : pushed.errors.map((e) => e.path)).toEqual([`routes[${routes}].match`]);
    }
  }, 60_000);

  it('bytes that are not an entry are ignored as corrupt', async () => {
    expect(await checkVersionFor(local, Buffer.from('not gzip'))).toEqual({ kind: 'ignored', reason: 'corrupt' });
    expect(await checkVersionFor(local, gzipSync('{"v":2}'))).toEqual({ kind: 'ignored', reason: 'corrupt' });
  }, 60_000);

  it('warming at start (the start version checked again, on the loop or in the thread) changes no verdict of the versions after it', async () => {
    for (const routes of [3, 1_000]) {
      const p1 = policy(routes);
      const first = await checkVersionFor(local, payload(p1));
      expect(first.kind === 'entry' && first.verdict.ok).toBe(true);
      const w = await warmCheck(local, payload(p1), 4, 60_000);
      expect(w).toEqual({ rounds: 4, where: routes > 3 ? 'thread' : 'event_loop' });
      // the next version changes one route and breaks another: exactly a full validation's answer
      const p2 = policy(routes);
      (p2.routes as Array<Record<string, unknown>>)[0] = { name: 'r0', match: { path: '/changed/*' }, upstream: 'app', auth: 'none' };
      const next = await checkVersionFor(local, payload(p2, 2));
      const full = validateConfig({ ...local, ...p2 });
      if (next.kind !== 'entry' || !next.verdict.ok || !full.ok) throw new Error('expected valid');
      expect(next.verdict.config).toEqual(full.config);
      const p3 = policy(routes);
      (p3.routes as Array<Record<string, unknown>>)[1] = { name: 'r1', match: { path: '/r/1/*' }, upstream: 'nope', auth: 'none' };
      const bad = await checkVersionFor(local, payload(p3, 3));
      const fullBad = validateConfig({ ...local, ...p3 });
      if (bad.kind !== 'entry' || fullBad.ok) throw new Error('expected an entry');
      expect(bad.verdict).toEqual({ ok: false, kind: 'invalid', errors: fullBad.errors });
    }
  }, 60_000);

  it('warming a payload that is not an entry does nothing and does not throw', async () => {
    expect((await warmCheck(local, gzipSync('{"v":2}'), 3, 1_000)).rounds).toBe(3);
    expect(await warmCheck(local, Buffer.from('not gzip'), 3, 1_000)).toEqual({ rounds: 0, where: 'thread' });
  }, 60_000);
});
