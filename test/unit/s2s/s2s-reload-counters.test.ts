// A reload that replaces a token exchanger, a client-credentials source or the internal-token
// signer keeps their counters in the s2s sums (a counter that goes down makes rate() lie), not
// their gauges; every key is checked against the metric table so a new counter cannot be missed.
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { createLogger } from '../../../node/log.js';
import { COMPONENT_FAMILIES, mapKey } from '../../../node/metrics/index.js';
import type { RequestContext } from '../../../node/pipeline/context.js';
import { S2S_GAUGES, S2sLayer } from '../../../node/s2s/s2s-layer.js';

const ENV = { PT_CC_SECRET: 's3cret' };
/** Keys the layer computes itself (not from a replaced part): never carried. */
const LAYER_KEYS = new Set(['client_credentials.sources', 'internal_tokens.keys_published', 'internal_tokens.key_rotations']);

function config(timeoutMs: number, signing: 'worker' | 'inline'): Config {
  const cc = { issuer: 'https://as.example', token_endpoint: 'http://127.0.0.1:9/token', client_id: 'pc', client_secret_env: 'PT_CC_SECRET', timeout_ms: timeoutMs };
  const r = validateConfig({
    upstreams: { app: { targets: ['http://127.0.0.1:9'] }, svc: { targets: ['http://127.0.0.1:9'], client_credentials: cc } },
    issuers: { demo: { issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks', audiences: ['api'],
      token_exchange: { token_endpoint: 'http://127.0.0.1:9/token', client_id: 'pc', client_secret_env: 'PT_CC_SECRET', timeout_ms: timeoutMs } } },
    internal_tokens: { issuer: 'https://portcullis.internal', signing },
    routes: [
      { name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {}, forward: { token: 'internal' } },
      { name: 'svc', match: { path: '/svc/*' }, upstream: 'svc', auth: {} },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function ctx(hash: string): RequestContext {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const principal = { issuer: 'demo', kind: 'jwt', claims: { sub: 'alice' }, scopes: [], exp, validUntil: exp, fingerprint: hash.slice(0, 16), facts: { tokenHash: hash } };
  return { principal, deadline: Infinity } as unknown as RequestContext;
}

const carried = (stats: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(stats).filter(([k]) => !LAYER_KEYS.has(k) && !k.startsWith('token_endpoint.') && !S2S_GAUGES.has(k.slice(k.indexOf('.') + 1))));

let layer: S2sLayer | null = null;
afterEach(async () => { await layer?.close(); layer = null; });

describe('s2s counters across a reload that replaces the exchanger, the source and the signer', () => {
  it('every stats key is a counter unless it is named a gauge (S2S_GAUGES) or the layer computes it', async () => {
    layer = new S2sLayer(config(1_000, 'worker'), { logger: createLogger({ level: 'silent', format: 'json' }), env: ENV });
    layer.reconfigure(config(1_001, 'inline')); // both signers' keys
    const keys = Object.keys(layer.stats()).filter((k) => !k.startsWith('token_endpoint.'));
    expect(keys.some((k) => k.startsWith('token_exchange.')) && keys.some((k) => k.startsWith('client_credentials.'))).toBe(true);
    for (const k of keys) {
      const m = mapKey(k);
      const type = m === null || m === 'elsewhere' ? `unmapped ${k}` : COMPONENT_FAMILIES.get(m.family)?.type;
      const gauge = LAYER_KEYS.has(k) ? type : S2S_GAUGES.has(k.slice(k.indexOf('.') + 1)) ? 'gauge' : 'counter';
      expect([k, type]).toEqual([k, gauge]);
    }
  });

  it('no counter goes down: the failed calls and the signatures of the replaced parts stay counted', async () => {
    layer = new S2sLayer(config(1_000, 'inline'), { logger: createLogger({ level: 'silent', format: 'json' }), env: ENV });
    const [internal, svc] = layer.committed.steps;
    await internal!.authorization(ctx('a'.repeat(64)));
    await svc!.authorization(ctx('b'.repeat(64))); // the token endpoint refuses the connection: calls_failed
    const before = carried(layer.stats());
    expect(before['client_credentials.calls_failed']).toBe(1);
    expect(before['internal_tokens.signed']).toBe(1);
    layer.reconfigure(config(1_001, 'worker')); // a new source (timeout_ms), a new exchanger, a new signer
    const after = carried(layer.stats()); // (plus the new worker signer's keys, at 0)
    expect(Object.fromEntries(Object.keys(before).map((k) => [k, after[k]]))).toEqual(before);
  });
});
