// `portcullis demo-auth` and `portcullis demo-echo`: the dev mode's authorization server and
// echo upstream as processes of their own, for the compose demo (containers) and the
// multi-host harness (network namespaces). Demo only: the server mints tokens for anyone.
import { parseCommandLine } from './command-line.js';
import { startAuthServer } from './demo/auth-server.js';
import { startAuthControl } from './demo/auth-control.js';
import { startEchoUpstream } from './demo/echo-upstream.js';
import { UsageError } from './usage-error.js';

export const DEMO_AUTH_USAGE = `Usage: portcullis demo-auth [--listen HOST:PORT] [--public-url URL] [--control HOST:PORT]

The demo authorization server (discovery, JWKS, token, introspection) of "portcullis dev".
  --listen HOST:PORT   bind address (default 127.0.0.1:9000)
  --public-url URL     base URL clients and proxies use, also the issuer (default http://HOST:PORT)
  --control HOST:PORT  also serve POST /mint and GET /counters there (benches, harness; off by default)
Clients: demo-client / demo-secret (client_credentials), portcullis / portcullis-secret (introspection).`;

export const DEMO_ECHO_USAGE = `Usage: portcullis demo-echo [--listen HOST:PORT] [--name NAME]

The echo upstream of "portcullis dev": answers every request with a JSON echo of it.
  --listen HOST:PORT   bind address (default 127.0.0.1:3000)
  --name NAME          reported as "upstream" in every answer (default echo)`;

/** "host:port" or "[v6]:port" → parts; throws a readable message on anything else. */
export function parseListen(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) throw new UsageError(`${flag}: expected HOST:PORT, got "${value}"`);
  return { host: (m[1] ?? m[2])!, port };
}

function onStop(close: () => Promise<unknown>): void {
  const stop = (): void => { void close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function demoAuth(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('demo-auth', { args: argv, options: { listen: { type: 'string' }, 'public-url': { type: 'string' }, control: { type: 'string' }, help: { type: 'boolean' } } }, DEMO_AUTH_USAGE);
  if (values.help) { process.stdout.write(DEMO_AUTH_USAGE + '\n'); return; }
  const { host, port } = parseListen('--listen', values.listen ?? '127.0.0.1:9000');
  const control = values.control !== undefined ? parseListen('--control', values.control) : null;
  const as = await startAuthServer({ host, port, ...(values['public-url'] !== undefined ? { publicUrl: values['public-url'] } : {}) });
  const ctl = control === null ? null : await startAuthControl(as, control.host, control.port);
  process.stdout.write(JSON.stringify({ msg: 'listening', url: as.url, issuer: as.issuer, ...(ctl !== null ? { controlPort: ctl.port } : {}) }) + '\n');
  onStop(async () => { ctl?.server.closeAllConnections(); ctl?.server.close(); await as.close(); });
}

export async function demoEcho(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('demo-echo', { args: argv, options: { listen: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean' } } }, DEMO_ECHO_USAGE);
  if (values.help) { process.stdout.write(DEMO_ECHO_USAGE + '\n'); return; }
  const { host, port } = parseListen('--listen', values.listen ?? '127.0.0.1:3000');
  const echo = await startEchoUpstream({ host, port, name: values.name ?? 'echo' });
  process.stdout.write(JSON.stringify({ msg: 'listening', url: echo.url, port: echo.port }) + '\n');
  onStop(() => echo.close());
}
