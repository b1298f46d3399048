// The embedded authorization server (node/dev/auth-server) in a process of its own for the
// token scenarios, so minting and introspection never share the load generator's event loop.
// `node dist/bench/auth-server-process.js` prints {"url","issuer","controlPort"}; the bench drives
// it over a second loopback port: POST /mint, GET /counters, POST /counters/reset.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { startAuthServer, type AuthAlg, type AuthServer } from '../node/dev/auth-server.js';

/** Body of POST /mint. */
export type MintRequest =
  | { kind: 'jwt'; alg: AuthAlg; count: number; claims?: Record<string, unknown>; ttlSeconds?: number }
  | { kind: 'opaque'; count: number; claims?: Record<string, unknown>; ttlSeconds?: number };

const MAX_MINT = 500_000;
/** RSA signing runs on libuv's pool (WebCrypto): this many in flight keeps every core busy. */
const SIGN_CONCURRENCY = 64;

async function mint(as: AuthServer, m: MintRequest): Promise<string[]> {
  if (!Number.isInteger(m.count) || m.count < 1 || m.count > MAX_MINT) throw new Error(`count must be an integer 1…${MAX_MINT}`);
  if (m.kind === 'opaque') return Array.from({ length: m.count }, () => as.issueOpaque(m.claims ?? {}, m.ttlSeconds));
  const out = new Array<string>(m.count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < m.count) {
      const i = next++;
      out[i] = await as.issueJwt(m.claims ?? {}, { alg: m.alg, ...(m.ttlSeconds !== undefined ? { ttlSeconds: m.ttlSeconds } : {}) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIGN_CONCURRENCY, m.count) }, lane));
  return out;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try { resolve(chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch (err) { reject(err as Error); }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

async function main(): Promise<void> {
  const as = await startAuthServer({ algorithms: ['RS256', 'ES256'], tokenTtlSeconds: 3600 });
  const control = createServer((req, res) => {
    const route = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
    void (async () => {
      if (route === 'POST /mint') send(res, 200, { tokens: await mint(as, (await readJson(req)) as MintRequest) });
      else if (route === 'GET /counters') send(res, 200, { ...as.counters });
      else if (route === 'POST /counters/reset') { as.resetCounters(); send(res, 200, { ...as.counters }); }
      else send(res, 404, { error: `no control endpoint ${route}` });
    })().catch((err: unknown) => { if (!res.headersSent) send(res, 400, { error: (err as Error).message }); });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const controlPort = (control.address() as AddressInfo).port;
  process.stdout.write(JSON.stringify({ url: as.url, issuer: as.issuer, controlPort }) + '\n');
  const stop = (): void => {
    control.close();
    control.closeAllConnections();
    void as.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`auth-server-process: ${String(err)}\n`);
    process.exit(1);
  });
}
