// A reload that switches internal_tokens.signing (worker ↔ inline) replaces the signer: a mint
// already handed to the old worker must still get its signature (README "In-flight requests
// finish on the snapshot they started with"). Before the fix commit closed the old ThreadSigner,
// which answered the waiting mint null: 503 internal_token_failed with nothing wrong.
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { createLogger } from '../../../node/log.js';
import type { RequestContext } from '../../../node/pipeline/context.js';
import { KeyRing, generateKeySync } from '../../../node/s2s/key-ring.js';
import { S2sLayer } from '../../../node/s2s/s2s-layer.js';
import { ThreadSigner } from '../../../node/s2s/token-signer.js';

const nowS = (): number => Math.floor(Date.now() / 1000);

function config(signing: 'worker' | 'inline'): Config {
  const r = validateConfig({
    upstreams: { app: { targets: ['http://127.0.0.1:9'] } },
    issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['api'] } },
    internal_tokens: { issuer: 'https://portcullis.internal', signing },
    routes: [{ name: 'api', match: { path: '/*' }, upstream: 'app', auth: {}, forward: { token: 'internal' } }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function ctxFor(hash: string): RequestContext {
  const exp = nowS() + 3600;
  const principal = { issuer: 'demo', kind: 'jwt', claims: { sub: 'alice' }, scopes: [], exp, validUntil: exp, fingerprint: hash.slice(0, 16), facts: { tokenHash: hash } };
  return { principal } as unknown as RequestContext;
}

let layer: S2sLayer | null = null;
afterEach(async () => { await layer?.close(); layer = null; });

describe('internal-token mints in flight across a reload that replaces the signer', () => {
  it.each([['worker', 'inline'], ['worker', 'worker-restarted']] as const)('a mint on the %s signer still gets its token after the switch (%s)', async (_from, to) => {
    layer = new S2sLayer(config('worker'), { logger: createLogger({ level: 'silent', format: 'json' }) });
    const step = layer.committed.steps[0]!;
    const pending = step.authorization(ctxFor('a'.repeat(64)));
    expect(pending).toBeInstanceOf(Promise);
    if (to === 'inline') layer.reconfigure(config('inline'));
    else { layer.reconfigure(config('inline')); layer.reconfigure(config('worker')); }
    const got = await pending;
    expect(typeof got === 'string' ? got.slice(0, 7) : got).toBe('Bearer ');
    // and the new signer mints what comes after
    const next = await layer.committed.steps[0]!.authorization(ctxFor('b'.repeat(64)));
    expect(typeof next === 'string' ? next.slice(0, 7) : next).toBe('Bearer ');
  });
});

describe('ThreadSigner.retire', () => {
  it('signs what it was asked, then closes: later calls answer null and nothing is left running', async () => {
    const ring = new KeyRing({ alg: 'ES256', maxTtlS: 300, publishAheadS: 60 });
    ring.install(generateKeySync('ES256'), 'ES256');
    const t = new ThreadSigner();
    const asked = [t.sign(ring.signer(Date.now()), 'e30.e30'), t.sign(ring.signer(Date.now()), 'e30.e31')];
    t.retire();
    const sigs = await Promise.all(asked);
    expect(sigs.map((s) => typeof s === 'string' && s.length > 0)).toEqual([true, true]);
    expect(await t.sign(ring.signer(Date.now()), 'e30.e32')).toBeNull();
  });
});
