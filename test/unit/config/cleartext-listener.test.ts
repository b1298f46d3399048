// server.tls with an HTTP/2 listener that has no tls of its own: that listener is h2c, tokens reach it in clear
// text. Named as a warning (before, nothing said so); none when the HTTP/2 listener has tls, listens on loopback,
// or the main listener is plain too (the operator chose clear text everywhere).
import { describe, expect, it } from 'vitest';
import { validateConfig, type Config } from '../../../node/config/index.js';
import { configWarnings } from '../../../node/config-warnings.js';

const TLS = { cert_file: '/etc/portcullis/cert.pem', key_file: '/etc/portcullis/key.pem' };

function warnings(server: Record<string, unknown>): string[] {
  const r = validateConfig({ server, upstreams: { app: { targets: ['http://127.0.0.1:3001'] } }, routes: [{ name: 'r', match: { path: '/*' }, upstream: 'app', auth: 'none' }] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return configWarnings(r.config as Config).map((w) => `${w.path}: ${w.message}`);
}

describe('h2c beside a TLS main listener', () => {
  it('is named with the address it serves clear text on', () => {
    expect(warnings({ tls: TLS, http2: { listen: { port: 8443 } } })).toEqual([
      expect.stringMatching(/^server\.http2\.tls: server\.tls serves the main listener over TLS, but server\.http2 has no tls: it serves h2c \(clear text\) on 0\.0\.0\.0:8443, where bearer tokens/),
    ]);
  });

  it('says nothing with http2 tls, on loopback, or without server.tls', () => {
    expect(warnings({ tls: TLS, http2: { listen: { port: 8443 }, tls: TLS } })).toEqual([]);
    for (const host of ['127.0.0.1', '::1', '[::1]', 'localhost']) expect(warnings({ tls: TLS, http2: { listen: { host, port: 8443 } } })).toEqual([]);
    expect(warnings({ http2: { listen: { port: 8443 } } })).toEqual([]);
  });
});
