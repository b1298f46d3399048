// The primary's parse of a reloaded config (cluster/process/reload-parse.ts): a large text is parsed in a
// worker thread (forced here: no inline size) and gives the same answer as on the event loop — the config deep-frozen, every error with its path.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../../node/config/index.js';
import { parseReloadText } from '../../../cluster/process/reload-parse.js';

/** A valid config text with `n` routes. */
function configText(n: number, extra: Record<string, unknown> = {}): string {
  return stringify({
    server: { listen: { host: '127.0.0.1', port: 8080 } },
    issuers: { demo: { issuer: 'http://127.0.0.1:9', audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: ['http://127.0.0.1:9'] } },
    routes: Array.from({ length: n }, (_, i) => ({ name: `r${i}`, match: { path: `/svc-${i}/*` }, upstream: 'app', auth: {}, ...extra })),
  });
}

describe('parseReloadText', () => {
  it('parses it in a thread: the same config, deep-frozen', async () => {
    const text = configText(50);
    const r = await parseReloadText(text, 0);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toEqual((parseConfigText(text, { env: process.env }) as { config: unknown }).config);
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(Object.isFrozen(r.config.routes[49]!.match)).toBe(true);
  });

  it('refuses an invalid one from the thread with every error and its path', async () => {
    const text = configText(50, { upstream: 'missing' });
    const r = await parseReloadText(text, 0);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.length).toBeGreaterThan(1);
    expect(r.errors[0]!.path).toBe('routes[0].upstream');
  });
});
