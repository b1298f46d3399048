// Request plumbing of the demo authorization server (auth-server.ts): bounded body and form
// reading (64 KiB, no repeated single-valued parameters), JSON answers, OAuth error objects
// (HttpError) and client authentication (RFC 6749 §2.3.1). Kept apart from the endpoints so
// the server file reads as the OAuth flows.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';

export type Params = URLSearchParams;
/** An OAuth error answer (RFC 6749 §5.2 shape): status, `error` code, description, extra headers. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, description: string, readonly headers: Record<string, string> = {}) {
    super(description);
  }
}

const MAX_BODY = 64 * 1024; // 64 KiB
const MULTI_VALUED = new Set(['resource', 'audience']); // RFC 8707 / 8693 allow repeats

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const s = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(s),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(s);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) { reject(new HttpError(413, 'invalid_request', 'request body exceeds 64 KiB', { connection: 'close' })); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.pause();
        reject(new HttpError(413, 'invalid_request', 'request body exceeds 64 KiB', { connection: 'close' }));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function readForm(req: IncomingMessage): Promise<Params> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(400, 'invalid_request', 'content-type must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams((await readBody(req)).toString('utf8'));
  for (const key of new Set(params.keys())) {
    if (!MULTI_VALUED.has(key) && params.getAll(key).length > 1) throw new HttpError(400, 'invalid_request', `parameter ${key} repeated`);
  }
  return params;
}

function secretsEqual(a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

function formDecode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

/** RFC 6749 §2.3.1: client_secret_basic or client_secret_post, never both; returns the client_id. */
export function authenticateClient(req: IncomingMessage, params: Params, clients: Record<string, string>): string {
  const challenge = { 'www-authenticate': 'Basic realm="portcullis-dev"' };
  const authz = req.headers.authorization;
  let id: string | null = null;
  let secret: string | null = null;
  if (authz !== undefined && /^basic /i.test(authz)) {
    if (params.has('client_secret')) throw new HttpError(400, 'invalid_request', 'more than one client authentication method');
    const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new HttpError(401, 'invalid_client', 'malformed Basic credentials', challenge);
    id = formDecode(decoded.slice(0, colon));
    secret = formDecode(decoded.slice(colon + 1));
    const bodyId = params.get('client_id');
    if (bodyId !== null && bodyId !== id) throw new HttpError(400, 'invalid_request', 'client_id does not match credentials');
  } else if (params.has('client_secret')) {
    id = params.get('client_id');
    secret = params.get('client_secret');
  }
  if (id === null || secret === null) throw new HttpError(401, 'invalid_client', 'client authentication required', challenge);
  const expected = Object.hasOwn(clients, id) ? clients[id]! : undefined;
  if (expected === undefined || !secretsEqual(secret, expected)) {
    throw new HttpError(401, 'invalid_client', 'client authentication failed', challenge);
  }
  return id;
}

export function requestedAudience(params: Params, fallback: string): string | string[] {
  const values = [...params.getAll('audience'), ...params.getAll('resource')].filter((v) => v !== '');
  if (values.length === 0) return fallback;
  return values.length === 1 ? values[0]! : values;
}
