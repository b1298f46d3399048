// Shared by the introspection client's tests: issuer configs, clients closed after each test, a
// movable clock and a scripted node:http authorization server that records what it was sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { IntrospectionClient, type IntrospectionClientOptions } from '../../../node/introspection/index.js';
import { issuerSchema } from '../../../node/config/index.js';

export const ENV = { AS_SECRET: 'portcullis-secret' };
export const sha256hex = (t: string): string => createHash('sha256').update(t).digest('hex');

export function issuer(endpoint: string, introspection: Record<string, unknown> = {}) {
  return issuerSchema.parse({
    // the dev AS names itself (its origin) as iss in its answers; other endpoints here answer without iss
    issuer: endpoint.endsWith('/introspect') ? new URL(endpoint).origin : 'https://as.example', audiences: ['portcullis-demo'],
    introspection: { endpoint, client_id: 'portcullis', client_secret_env: 'AS_SECRET', ...introspection },
  });
}

export const clients: IntrospectionClient[] = [];
export function client(endpoint: string, introspection: Record<string, unknown> = {}, opts: Partial<IntrospectionClientOptions> = {}): IntrospectionClient {
  const c = new IntrospectionClient({ name: 'demo', issuer: issuer(endpoint, introspection), env: ENV, ...opts });
  clients.push(c);
  return c;
}
/** Close every client a test made (each test file runs it afterEach). */
export async function closeClients(): Promise<void> { await Promise.all(clients.splice(0).map((c) => c.close())); }

/** A clock the test moves. */
export function clock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

/** A scripted AS: records requests and answers with whatever the test sets. */
export interface Recorded { headers: IncomingMessage['headers']; body: string }
export function scriptedAs(): Promise<{ url: string; seen: Recorded[]; reply: (res: ServerResponse, req: Recorded) => void; server: Server; setReply(f: (res: ServerResponse, req: Recorded) => void): void }> {
  return new Promise((resolve) => {
    const state = {
      url: '', seen: [] as Recorded[], server: null as unknown as Server,
      reply: (res: ServerResponse, _req: Recorded): void => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"active":false}'); },
      setReply(f: (res: ServerResponse, req: Recorded) => void) { state.reply = f; },
    };
    state.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        state.seen.push(r);
        state.reply(res, r);
      });
    });
    state.server.listen(0, '127.0.0.1', () => {
      state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/introspect`;
      resolve(state);
    });
  });
}
