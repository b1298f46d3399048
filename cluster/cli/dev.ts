// `portcullis dev`: one command, no external services. Starts on loopback an embedded
// authorization server, an echo upstream and the proxy in front of it, then prints
// the proxy URL, ready tokens and copy-paste curl lines. Ctrl-C stops everything.
import { randomBytes } from 'node:crypto';
import { startAuthServer } from './demo/auth-server.js';
import { startEchoUpstream } from './demo/echo-upstream.js';
import { startWsEchoUpstream } from './demo/ws-echo-upstream.js';
import { validateConfig, formatProblems } from '../../node/config/index.js';
import { ProxyInstance } from '../../node/instance.js';
import { createLogger, logSettled } from '../../node/log.js';
import { freePort, startMember } from '../process/index.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';

/** Bind `port` on loopback for a moment: null when free, else the error code (EADDRINUSE, EACCES…). */
async function probePort(port: number): Promise<string | null> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(null)));
  });
}

/** The documented port when free so the printed curl lines stay the same, else any free one (defaults only). */
async function preferPort(wanted: number): Promise<number> {
  return (await probePort(wanted)) === null ? wanted : freePort('127.0.0.1');
}

/**
 * The proxy port: `--port N` exactly (0 = any free port) or fail naming the port — an operator
 * who asked for N must not find the proxy on another one; without `--port`, 8080 or a free one.
 */
async function proxyPort(flag: string | undefined): Promise<number> {
  if (flag === undefined) return preferPort(8080);
  if (!/^\d{1,5}$/.test(flag) || Number(flag) > 65_535) throw new UsageError(`dev: --port: expected a port number 0–65535 (0 = any free port), got "${flag}"`);
  const port = Number(flag);
  if (port === 0) return freePort('127.0.0.1');
  const problem = await probePort(port);
  if (problem === 'EADDRINUSE') throw new Error(`dev: port ${port} on 127.0.0.1 is already in use: stop what listens there or choose another with --port N (without --port, dev uses 8080 or a free port)`);
  if (problem !== null) throw new Error(`dev: cannot listen on 127.0.0.1:${port} (${problem}): choose another with --port N`);
  return port;
}

export async function dev(argv: string[], usage: string): Promise<void> {
  const { values } = parseCommandLine('dev', { args: argv, options: { port: { type: 'string' }, help: { type: 'boolean' } } }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  const port = await proxyPort(values.port);
  const adminPort = await preferPort(9901);

  const as = await startAuthServer();
  const echo = await startEchoUpstream({ name: 'echo' });
  const wsEcho = await startWsEchoUpstream({ name: 'ws-echo' });
  const adminToken = randomBytes(12).toString('base64url');
  process.env.PORTCULLIS_DEV_ADMIN_TOKEN = adminToken;
  process.env.PORTCULLIS_DEV_INTROSPECTION_SECRET = 'portcullis-secret';

  const raw = {
    server: { listen: { host: '127.0.0.1', port } },
    admin: { listen: { host: '127.0.0.1', port: adminPort }, token_env: 'PORTCULLIS_DEV_ADMIN_TOKEN' },
    issuers: {
      demo: {
        issuer: as.issuer,
        audiences: ['portcullis-demo'],
        algorithms: ['RS256', 'ES256'],
        introspection: { client_id: 'portcullis', client_secret_env: 'PORTCULLIS_DEV_INTROSPECTION_SECRET' },
      },
    },
    upstreams: { echo: { targets: [echo.url] }, 'ws-echo': { targets: [wsEcho.url] } },
    routes: [
      { name: 'public', match: { path: '/public/*' }, upstream: 'echo', auth: 'none' },
      { name: 'orders-read', match: { path: '/orders/*', methods: ['GET'] }, upstream: 'echo', auth: { scopes: { all: ['orders:read'] } } },
      { name: 'orders-write', match: { path: '/orders/*', methods: ['POST', 'PUT', 'DELETE'] }, upstream: 'echo', auth: { scopes: { all: ['orders:write'] } } },
      { name: 'tenant', match: { path: '/tenants/:tenant/*' }, upstream: 'echo', auth: { claims: [{ claim: 'tenant', equals_param: 'tenant' }] } },
      { name: 'internal', match: { path: '/internal/*' }, upstream: 'echo', auth: { scopes: { all: ['orders:read'] } }, forward: { token: 'internal' } },
      { name: 'chat', match: { path: '/ws/*' }, upstream: 'ws-echo', websocket: true, auth: { scopes: { all: ['orders:read'] }, token_sources: { websocket_protocol: true } } },
    ],
    // the proxy as an issuer: /internal/* replaces the caller's token with one the proxy signs
    internal_tokens: { issuer: `http://127.0.0.1:${port}`, max_ttl_s: 300 },
    log: { level: 'info', format: 'pretty', access: true },
    verifier: { pool_size: 2 },
  };
  const v = validateConfig(raw);
  if (!v.ok) throw new Error(`embedded dev config invalid (a bug):\n${formatProblems(v.errors)}`);
  const logger = createLogger({ level: 'info', format: 'pretty' });
  // a local cluster member: the revocation set and POST/GET /revocations on the admin port
  const member = await startMember(v.config, logger, 'single');
  const inst = await ProxyInstance.start({ config: v.config, logger, admin: true, ...member.instance });
  await inst.whenAuthReady(10_000);

  const reader = await as.issueJwt({ sub: 'alice', scope: 'orders:read', tenant: 'acme' });
  const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read orders:write', client_id: 'demo-client', aud: 'portcullis-demo' });
  const u = `http://127.0.0.1:${inst.port}`;
  const a = `http://127.0.0.1:${inst.adminPort}`;
  const lines = [
    '',
    `Portcullis dev mode — proxy ${u}  admin ${a}  authorization server ${as.url}  upstream ${echo.url}`,
    '',
    'A JWT (RS256, scope orders:read, tenant acme) and an opaque token (introspected):',
    `  export TOKEN=${reader}`,
    `  export OPAQUE=${opaque}`,
    '',
    'Try:',
    `  curl -i ${u}/public/hello                                          # 200, no token needed`,
    `  curl -i ${u}/orders/42 -H "Authorization: Bearer $TOKEN"            # 200, identity headers reach the upstream`,
    `  curl -i ${u}/orders/42                                              # 401, WWW-Authenticate: Bearer realm="portcullis"`,
    `  curl -i ${u}/orders/42 -H "Authorization: Bearer \${TOKEN%????}AAAA" # 401 invalid_token (signature): its last 4 characters replaced`,
    `  curl -i -X POST ${u}/orders/42 -H "Authorization: Bearer $TOKEN"    # 403 insufficient_scope, scope="orders:write"`,
    `  curl -i -X POST ${u}/orders/42 -H "Authorization: Bearer $OPAQUE"   # 200 via RFC 7662 introspection`,
    `  curl -i ${u}/tenants/acme/x -H "Authorization: Bearer $TOKEN"       # 200 (claim tenant = :tenant)`,
    `  curl -i ${u}/tenants/other/x -H "Authorization: Bearer $TOKEN"      # 403 claim mismatch`,
    `  curl -s ${a}/metrics -H "Authorization: Bearer ${adminToken}" | grep portcullis_requests`,
    `  curl -s -X POST ${as.url}/token -u demo-client:demo-secret -d grant_type=client_credentials -d scope=orders:read   # a new token`,
    '',
    'Service to service: the upstream gets a short-lived token signed by the proxy instead of yours (aud = upstream name):',
    `  curl -s ${u}/internal/x -H "Authorization: Bearer $TOKEN"          # see "authorization" in the echoed headers`,
    `  curl -s ${u}/.well-known/jwks.json                                  # the keys upstreams verify it with`,
    '',
    'A WebSocket (echo upstream, token in Authorization or in the bearer subprotocol; open one, then revoke below):',
    `  npx wscat -c ws://127.0.0.1:${inst.port}/ws/chat -H "Authorization: Bearer $TOKEN"`,
    `  node -e "const w=new (require('ws'))('ws://127.0.0.1:${inst.port}/ws/chat',['base64url.bearer.authorization.k8s.io.'+Buffer.from(process.env.TOKEN).toString('base64url'),'chat']);w.on('open',()=>w.send('hello'));w.on('message',m=>console.log('got',String(m)));w.on('close',(c,r)=>console.log('closed',c,String(r)))"`,
    '',
    'Revoke every token of alice issued until now (her open WebSocket closes with 1008 "token revoked"), then try her token again:',
    `  curl -s -X POST ${a}/revocations -H "Authorization: Bearer ${adminToken}" -H 'content-type: application/json' -d '{"kind":"sub","value":"alice"}'`,
    `  curl -i ${u}/orders/42 -H "Authorization: Bearer $TOKEN"            # 401 invalid_token: revoked`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await inst.shutdown();
      await member.node.close();
      await Promise.all([as.close(), echo.close(), wsEcho.close()]);
      logger.info('stopped');
      // as serve does: exit once no log write is in flight (JSON lines without pino-pretty, audit records);
      // pino's exit hook then ends pino-pretty's transport, which writes out what it holds first
      await logSettled(logger);
      process.exit(0);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
