// check-config on a config with server.tls and an HTTP/2 listener without tls (h2c on 0.0.0.0): exit 0 with a
// warning naming server.http2.tls — tokens reach that port in clear text; before, check-config said only ok.
import { describe, expect, it } from 'vitest';
import { baseConfig, runCli, writeConfig } from '../../helpers/proxy-process.js';

describe('check-config: h2c beside a TLS listener', () => {
  it('warns, naming the path and the clear-text address', async () => {
    const cfg = baseConfig('http://127.0.0.1:9', {
      server: { listen: { host: '0.0.0.0', port: 8443 }, tls: { cert_file: '/etc/portcullis/cert.pem', key_file: '/etc/portcullis/key.pem' }, http2: { listen: { port: 8444 } } },
    });
    const r = await runCli(['check-config', '--no-env', writeConfig(cfg)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: server\.http2\.tls: .*serves h2c \(clear text\) on 0\.0\.0\.0:8444/m);
  });
});
