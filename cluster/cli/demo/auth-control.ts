// The demo authorization server's control port, for benches and the multi-host harness:
// POST /mint (JWTs or opaque tokens in bulk), GET /counters, POST /counters/reset. Never
// part of a real deployment: it mints tokens for anyone who can reach it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthAlg, AuthServer } from './auth-server.js';

/** Body of POST /mint. */
export type MintRequest =
  | { kind: 'jwt'; alg: AuthAlg; count: number; claims?: Record<string, unknown>; ttlSeconds?: number }
  | { kind: 'opaque'; count: number; claims?: Record<string, unknown>; ttlSeconds?: number };

const MAX_MINT = 500_000;
/** RSA signing runs on libuv's pool (WebCrypto): this many in flight keeps every core busy. */
const SIGN_CONCURRENCY = 64;

/** Mint `m.count` tokens (1…500 000); throws on a bad count. */
export async function mintTokens(as: AuthServer, m: MintRequest): Promise<string[]> {
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

/** Listen on host:port (port 0 = any) with the control endpoints for `as`; resolves with the server and its port. */
export async function startAuthControl(as: AuthServer, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const route = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
    void (async () => {
      if (route === 'POST /mint') send(res, 200, { tokens: await mintTokens(as, (await readJson(req)) as MintRequest) });
      else if (route === 'GET /counters') send(res, 200, { ...as.counters });
      else if (route === 'POST /counters/reset') { as.resetCounters(); send(res, 200, { ...as.counters }); }
      else send(res, 404, { error: `no control endpoint ${route}` });
    })().catch((err: unknown) => { if (!res.headersSent) send(res, 400, { error: (err as Error).message }); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
