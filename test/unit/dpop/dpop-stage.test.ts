// The DPoP stage as the auth layer runs it: extract reads `Authorization: DPoP`, the stage
// decides whether a proof is needed (bound token, DPoP scheme, required route), verifies it,
// checks nonce and replay, and every denial of a DPoP request renders the DPoP challenge.
import { describe, expect, it, beforeAll } from 'vitest';
import { pino } from 'pino';
import { configSchema, type Config } from '../../../node/config/index.js';
import { DpopStage } from '../../../node/dpop/index.js';
import { proxyError } from '../../../node/errors.js';
import { challenge } from '../../../node/http/respond.js';
import { extract, type CompiledPolicy } from '../../../node/pipeline/index.js';
import { CONTINUE, type RequestContext, type StageResult } from '../../../node/pipeline/context.js';
import type { ReplaySharing } from '../../../node/contracts/index.js';
import { compiled, ctxFor, principal, route } from '../pipeline/pipeline-helpers.js';
import { clientKey, proof, type ClientKey } from './dpop-helpers.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';
const HTU = 'http://api.example/api/x';
const ALGS = 'ES256 ES384 EdDSA PS256 RS256';
const silent = pino({ level: 'silent' });

function config(extra: Record<string, unknown> = {}): Config {
  return configSchema.parse({ upstreams: { app: { targets: ['http://127.0.0.1:9'] } }, routes: [{ name: 'r', match: { path: '/*' }, upstream: 'app', auth: {} }], ...extra });
}

let key: ClientKey;
beforeAll(async () => { key = await clientKey('ES256'); });

/** A request through extract with the given Authorization and DPoP headers and a principal of `claims`. */
function request(auth: unknown, headers: string[], claims: Record<string, unknown> | null): RequestContext {
  const ctx = ctxFor(compiled(route(auth)), { headers: ['host', 'api.example', ...headers] });
  const x = extract(ctx, (ctx.route.policy as CompiledPolicy).sources);
  expect(x).toBe(CONTINUE);
  ctx.principal = claims === null ? null : principal(claims);
  return ctx;
}
const bound = (): Record<string, unknown> => ({ sub: 'alice', cnf: { jkt: key.jkt } });
const sync = (r: StageResult | Promise<StageResult>): StageResult => { expect(r).not.toBeInstanceOf(Promise); return r as StageResult; };
const denial = (r: StageResult): { reason: string; code: string; challenge: string | null; nonce?: string | undefined } => {
  if (r.kind !== 'deny') return { reason: 'continue', code: '', challenge: null };
  return { reason: r.reason, code: r.error.code, challenge: challenge(r.error, 'portcullis'), nonce: r.error.dpop?.nonce };
};

describe('DpopStage', () => {
  it('accepts a valid proof with `Authorization: DPoP`, refuses it the second time', async () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const p = await proof(key, { htu: HTU, token: TOKEN });
    const ctx = request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], bound());
    expect(ctx.tokenScheme).toBe('dpop');
    expect(sync(stage.check(ctx))).toBe(CONTINUE);
    const again = denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], bound()))));
    expect(again).toMatchObject({ reason: 'dpop_replayed', code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    expect(again.challenge).toBe(`DPoP realm="portcullis", error="invalid_dpop_proof", error_description="DPoP proof already used (jti replayed)", algs="${ALGS}"`);
    expect(stage.stats()).toMatchObject({ proofs_checked: 2, proofs_accepted: 1, replays_refused: 1, replay_entries: 1 });
    stage.close();
  });

  it('reads the DPoP scheme case-insensitively and refuses malformed DPoP credentials as invalid_request', () => {
    const ctx = ctxFor(compiled(route({})), { headers: ['authorization', `dpop ${TOKEN}`] });
    expect(extract(ctx)).toBe(CONTINUE);
    expect(ctx.tokenScheme).toBe('dpop');
    for (const v of ['DPoP', 'DPoP a b', 'DPoP ', 'DPoP\ttok']) {
      const c = ctxFor(compiled(route({})), { headers: ['authorization', v] });
      const r = extract(c);
      expect(r.kind === 'deny' ? r.error.code : 'continue', v).toBe('PORTCULLIS_ERR_AUTH_INVALID_REQUEST');
    }
  });

  it('refuses a missing or duplicated DPoP header', async () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`], bound()))))).toMatchObject({ reason: 'dpop_missing', code: 'PORTCULLIS_ERR_DPOP_INVALID_PROOF' });
    const p = await proof(key, { htu: HTU, token: TOKEN });
    const q = await proof(key, { htu: HTU, token: TOKEN });
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', p, 'dpop', q], bound()))))).toMatchObject({ reason: 'dpop_multiple' });
    stage.close();
  });

  it('refuses a DPoP-bound token sent as Bearer (or from a cookie) with invalid_token in the DPoP scheme', async () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const p = await proof(key, { htu: HTU, token: TOKEN });
    const d = denial(sync(stage.check(request({}, ['authorization', `Bearer ${TOKEN}`, 'dpop', p], bound()))));
    expect(d).toMatchObject({ reason: 'dpop_bound_token_as_bearer', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
    expect(d.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_token", error_description="[^"]+", algs="ES256 /);
    const fromCookie = request({ token_sources: { cookie: 'at' } }, ['cookie', `at=${TOKEN}`], bound());
    expect(denial(sync(stage.check(fromCookie))).reason).toBe('dpop_bound_token_as_bearer');
    stage.close();
  });

  it('refuses an unbound token sent with the DPoP scheme; lets an unbound Bearer token through', () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`], { sub: 'a' }))))).toMatchObject({ reason: 'dpop_unbound_token', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
    expect(sync(stage.check(request({}, ['authorization', `Bearer ${TOKEN}`], { sub: 'a' })))).toBe(CONTINUE);
    stage.close();
  });

  it('refuses tokens bound by a method it cannot check (mTLS x5t#S256, jwk, …) or with a malformed cnf, whatever the scheme', async () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const p = await proof(key, { htu: HTU, token: TOKEN });
    for (const cnf of [{ 'x5t#S256': 'abc' }, { jwk: { kty: 'EC' } }, { kid: 'k' }, { jkt: key.jkt, 'x5t#S256': 'abc' }, 'abc', null, ['jkt']]) {
      for (const headers of [['authorization', `Bearer ${TOKEN}`], ['authorization', `DPoP ${TOKEN}`, 'dpop', p]]) {
        const d = denial(sync(stage.check(request({}, headers, { sub: 'a', cnf }))));
        expect(d, JSON.stringify(cnf)).toMatchObject({ reason: 'cnf_unenforceable', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
        expect(d.challenge).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
      }
    }
    // an empty cnf binds nothing
    expect(sync(stage.check(request({}, ['authorization', `Bearer ${TOKEN}`], { sub: 'a', cnf: {} })))).toBe(CONTINUE);
    stage.close();
  });

  it('fails closed on a malformed cnf.jkt', async () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const p = await proof(key, { htu: HTU, token: TOKEN });
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], { cnf: { jkt: 42 } })))).reason).toBe('dpop_key_mismatch');
    stage.close();
  });

  it('on a route with dpop.required: refuses Bearer tokens and gives every denial the DPoP challenge', () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const auth = { dpop: { required: true } };
    const d = denial(sync(stage.check(request(auth, ['authorization', `Bearer ${TOKEN}`], { sub: 'a' }))));
    expect(d).toMatchObject({ reason: 'dpop_required', code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' });
    expect(d.challenge).toMatch(/^DPoP realm="portcullis", error="invalid_token"/);
    // no token at all: the plain challenge, in the DPoP scheme with algs (RFC 9449 §7.1)
    const none = request(auth, [], null);
    const missing: StageResult = Object.freeze({ kind: 'deny', error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_MISSING', 'a bearer token is required')), reason: 'no_token' });
    const wrapped = stage.challenge(none, missing);
    expect(denial(wrapped).challenge).toBe(`DPoP realm="portcullis", algs="${ALGS}"`);
    expect(stage.challenge(none, missing)).toBe(wrapped); // cached: no allocation per refusal
    stage.close();
  });

  it('leaves denials of plain Bearer requests alone, and renders a DPoP request\'s 403 in the DPoP scheme with scope', () => {
    const stage = new DpopStage({ config: config(), logger: silent });
    const scope: StageResult = Object.freeze({ kind: 'deny', error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE', 'need more', { scope: 'orders:write' })), reason: 'insufficient_scope' });
    expect(stage.challenge(request({}, ['authorization', `Bearer ${TOKEN}`], { sub: 'a' }), scope)).toBe(scope);
    expect(denial(stage.challenge(request({}, ['authorization', `DPoP ${TOKEN}`], bound()), scope)).challenge)
      .toBe(`DPoP realm="portcullis", error="insufficient_scope", error_description="need more", scope="orders:write", algs="${ALGS}"`);
    stage.close();
  });

  it('nonce flow: use_dpop_nonce with a DPoP-Nonce value, then the proof carrying it passes', async () => {
    const stage = new DpopStage({ config: config({ dpop: { nonce: { secret_env: 'DPOP_TEST_SECRET' } } }), env: { DPOP_TEST_SECRET: 's'.repeat(40) }, logger: silent });
    const auth = { dpop: { nonce: true } };
    const first = denial(sync(stage.check(request(auth, ['authorization', `DPoP ${TOKEN}`, 'dpop', await proof(key, { htu: HTU, token: TOKEN })], bound()))));
    expect(first).toMatchObject({ reason: 'dpop_nonce', code: 'PORTCULLIS_ERR_DPOP_NONCE_REQUIRED' });
    expect(first.challenge).toMatch(/^DPoP realm="portcullis", error="use_dpop_nonce", error_description="[^"]+", algs="/);
    expect(typeof first.nonce).toBe('string');
    const wrong = denial(sync(stage.check(request(auth, ['authorization', `DPoP ${TOKEN}`, 'dpop', await proof(key, { htu: HTU, token: TOKEN, nonce: 'made-up' })], bound()))));
    expect(wrong.reason).toBe('dpop_nonce');
    const ok = await proof(key, { htu: HTU, token: TOKEN, nonce: first.nonce! });
    expect(sync(stage.check(request(auth, ['authorization', `DPoP ${TOKEN}`, 'dpop', ok], bound())))).toBe(CONTINUE);
    // the same secret on another instance accepts it too
    const other = new DpopStage({ config: config({ dpop: { nonce: { secret_env: 'DPOP_TEST_SECRET' } } }), env: { DPOP_TEST_SECRET: 's'.repeat(40) }, logger: silent });
    const ok2 = await proof(key, { htu: HTU, token: TOKEN, nonce: first.nonce! });
    expect(sync(other.check(request(auth, ['authorization', `DPoP ${TOKEN}`, 'dpop', ok2], bound())))).toBe(CONTINUE);
    stage.close();
    other.close();
  });

  it('a proof with the previous bucket\'s nonce passes and the response carries the current nonce; the current one adds nothing', async () => {
    let nowMs = 1_800_000_000_000;
    const stage = new DpopStage({ config: config({ dpop: { nonce: { secret_env: 'DPOP_TEST_SECRET', lifetime_s: 300 } } }), env: { DPOP_TEST_SECRET: 's'.repeat(40) }, logger: silent, now: () => nowMs });
    const auth = { dpop: { nonce: true } };
    const call = async (nonce?: string): Promise<{ ctx: RequestContext; r: StageResult }> => {
      const p = await proof(key, { htu: HTU, token: TOKEN, iat: Math.floor(nowMs / 1000), ...(nonce !== undefined ? { nonce } : {}) });
      const ctx = request(auth, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], bound());
      return { ctx, r: sync(stage.check(ctx)) };
    };
    const old = denial((await call()).r).nonce!;
    const fresh = await call(old);
    expect(fresh.r).toBe(CONTINUE);
    expect(fresh.ctx.responseHeaders ?? null).toBeNull(); // current bucket: nothing to hand out
    nowMs += 300_000; // next bucket: `old` is now the previous one, still accepted
    const aging = await call(old);
    expect(aging.r).toBe(CONTINUE);
    expect(aging.ctx.responseHeaders?.[0]).toBe('dpop-nonce');
    const next = aging.ctx.responseHeaders![1]!;
    expect(next).not.toBe(old);
    const switched = await call(next);
    expect(switched.r).toBe(CONTINUE);
    expect(switched.ctx.responseHeaders ?? null).toBeNull();
    expect(stage.stats().nonces_refreshed).toBe(1);
    nowMs += 300_000; // two buckets on: `old` is refused with a new nonce
    expect(denial((await call(old)).r).reason).toBe('dpop_nonce');
    stage.close();
  });

  it('uses the route\'s iat window and the configured algorithm allowlist', async () => {
    const stage = new DpopStage({ config: config({ dpop: { algorithms: ['EdDSA'] } }), logger: silent });
    const old = await proof(key, { htu: HTU, token: TOKEN, iat: Math.floor(Date.now() / 1000) - 120 });
    expect(denial(sync(stage.check(request({ dpop: { iat_window_s: 300 } }, ['authorization', `DPoP ${TOKEN}`, 'dpop', old], bound())))).reason).toBe('dpop_alg');
    const ed = await clientKey('EdDSA');
    const p = await proof(ed, { htu: HTU, token: TOKEN, iat: Math.floor(Date.now() / 1000) - 120 });
    const claims = { cnf: { jkt: ed.jkt } };
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], claims)))).reason).toBe('dpop_iat_stale');
    expect(sync(stage.check(request({ dpop: { iat_window_s: 300 } }, ['authorization', `DPoP ${TOKEN}`, 'dpop', p], claims)))).toBe(CONTINUE);
    const d = denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`], claims))));
    expect(d.challenge).toMatch(/, algs="EdDSA"$/);
    stage.close();
  });

  it('a reload widening the iat window refuses proofs the old window already refused, exactly from its edge', async () => {
    const T = Math.floor(Date.now() / 1000);
    const stage = new DpopStage({ config: config(), logger: silent, now: () => T * 1000 });
    const wide = { dpop: { iat_window_s: 300 } };
    stage.reconfigure(config({ routes: [{ name: 'r', match: { path: '/*' }, upstream: 'app', auth: wide }] }));
    // dated before the old 60 s window at the reload: its replay entry may already be gone, so it stays refused
    const before = await proof(key, { htu: HTU, token: TOKEN, iat: T - 61 });
    expect(denial(sync(stage.check(request(wide, ['authorization', `DPoP ${TOKEN}`, 'dpop', before], bound())))).reason).toBe('dpop_iat_stale');
    const edge = await proof(key, { htu: HTU, token: TOKEN, iat: T - 60 });
    expect(sync(stage.check(request(wide, ['authorization', `DPoP ${TOKEN}`, 'dpop', edge], bound())))).toBe(CONTINUE);
    stage.close();
  });

  it('refuses to start or reload with an unset nonce secret variable; a failed reload keeps the settings', async () => {
    expect(() => new DpopStage({ config: config({ dpop: { nonce: { secret_env: 'DPOP_UNSET_VAR' } } }), env: {}, logger: silent })).toThrow(/DPOP_UNSET_VAR is not set/);
    expect(() => new DpopStage({ config: config({ dpop: { nonce: { secret_env: 'DPOP_SHORT' } } }), env: { DPOP_SHORT: 'short' }, logger: silent })).toThrow(/DPOP_SHORT must hold at least 32 bytes/);
    const stage = new DpopStage({ config: config(), env: {}, logger: silent });
    expect(() => stage.reconfigure(config({ dpop: { algorithms: ['RS256'], nonce: { secret_env: 'DPOP_UNSET_VAR' } } }))).toThrow();
    const d = denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`], bound()))));
    expect(d.challenge).toMatch(new RegExp(`algs="${ALGS}"$`));
    stage.close();
  });

  it('an owner verdict this build cannot read (it ends as a timeout) does not let the proof through: 503 for proofs dated within its window', async () => {
    let unreadableAt = 0;
    const sharing: ReplaySharing = {
      attach: () => ({
        self: 'me', ownerOf: () => 'newer-member', announce: () => {}, suspect: () => {}, detach: () => {}, unreadableAt: () => unreadableAt,
        // the owner answered (signed 5 s ago) in words this build cannot read: the bus tells the sync, the request times out
        ask: async () => { unreadableAt = Date.now() - 5_000; throw Object.assign(new Error('undecodable answer'), { code: 'BUS_TIMEOUT' }); },
      }),
    };
    const stage = new DpopStage({ config: config(), sharing, logger: silent });
    const nowS = Math.floor(Date.now() / 1000);
    const r = await stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', await proof(key, { htu: HTU, token: TOKEN })], bound()));
    // before: CONTINUE — the timeout was judged on the local cache, where the proof was new
    expect(r.kind).toBe('deny');
    if (r.kind !== 'deny') return;
    expect(r).toMatchObject({ reason: 'dpop_replays_unreadable', error: { code: 'PORTCULLIS_ERR_AUTH_UNAVAILABLE' } });
    expect(r.error.retryAfter).toBeGreaterThanOrEqual(50); // until a proof minted now is dated past its signing + the widest window (60 s)
    // decided before asking from now on; a proof dated past the window is asked about as usual
    expect(denial(sync(stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', await proof(key, { htu: HTU, token: TOKEN })], bound())))).reason).toBe('dpop_replays_unreadable');
    const ahead = stage.check(request({}, ['authorization', `DPoP ${TOKEN}`, 'dpop', await proof(key, { htu: HTU, token: TOKEN, iat: nowS + 59 })], bound()));
    expect(ahead).toBeInstanceOf(Promise);
    expect(stage.stats()).toMatchObject({ replay_unreadable_refused: 2 });
    stage.close();
  });
});
