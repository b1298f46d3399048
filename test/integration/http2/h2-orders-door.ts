// The HTTP/2 listener most HTTP/2 suites start: `portcullis serve` with server.http2 (h2c, or TLS with a
// self-signed certificate) in front of the echo upstream, the demo authorization server as issuer `demo`
// and one protected route, `/orders/*` needing scope orders:read.
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { http2PortOf } from '../../helpers/h2-client.js';
import { selfSignedCert } from '../../helpers/tls-probe.js';
import { asIssuer, waitReady } from '../auth/tokens-helpers.js';

export interface OrdersDoor {
  readonly as: AuthServer;
  readonly echo: EchoUpstream;
  readonly proxy: ProxyProcess;
  /** The HTTP/2 listener's port. */
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Start it, ready (keys loaded). `tls`: the HTTP/2 port speaks TLS (h2 and HTTP/1.1 by ALPN) instead
 * of h2c; `server`: keys added to the `server` section (limits, timeouts…).
 */
export async function startOrdersDoor(opts: { tls?: boolean; server?: Record<string, unknown> } = {}): Promise<OrdersDoor> {
  const [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  const tls = opts.tls === true ? (({ cert, key }) => ({ tls: { cert_file: cert, key_file: key } }))(selfSignedCert()) : {};
  const proxy = await startProxy(baseConfig(echo.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 }, ...tls }, ...opts.server },
    issuers: { demo: asIssuer(as, { algorithms: ['RS256'] }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: { scopes: { all: ['orders:read'] } } }],
    verifier: { pool_size: 1 },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
  return {
    as, echo, proxy, port: http2PortOf(proxy.logs()),
    stop: async () => { await proxy.stop(); await Promise.all([as.close(), echo.close()]); },
  };
}
