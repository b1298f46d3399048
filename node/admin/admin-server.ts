// The admin listener (own port, loopback by default): health, readiness, metrics,
// reload and the other operator endpoints. Everything but /healthz and /readyz needs
// the admin bearer token; without a configured token those endpoints refuse (closed). The
// optional metrics token reads GET /metrics only: anything else it asks answers 403.
// /readyz answers anyone with ready or not; its details (issuers, members…) need the token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log.js';
export { adminTokens } from './admin-tokens.js';
import { capConnections } from './connection-cap.js';
import { MAX_ADMIN_JSON_DEPTH, jsonNestsDeeper } from './json-depth.js';
import { adminActor, adminDetail, auditedAction, outcomeOf, type AuditLog } from '../audit/index.js';

/** One admin route handler: returns status and a JSON-able body (or text for metrics). */
export type AdminHandler = (req: IncomingMessage, body: string) => Promise<{ status: number; body: unknown; contentType?: string }>;

export interface AdminOptions {
  host: string;
  port: number;
  /** The admin bearer token value (already read from the environment); undefined = protected endpoints refuse. */
  token: string | undefined;
  /** The read-only scrape token (admin.metrics_token_env's value): GET /metrics only; undefined = none. */
  metricsToken?: string | undefined;
  logger: Logger;
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
  /** /healthz verdict: 200 `{status: ok}` when omitted or ok, else 503 `{status: failing, ...detail}` (e.g. a worker that cannot be restored). */
  health?: () => { ok: boolean; detail: Record<string, unknown> };
  metrics: () => Promise<string>;
  /** Extra protected routes, keyed "METHOD /path". */
  routes: Record<string, AdminHandler>;
  /** Open connections at once (admin.max_connections); default 256. */
  maxConnections?: number;
  /** Where every call that can change something (and every refused token) is recorded; null: nowhere (tests, placeholders). */
  audit?: AuditLog | null;
}

const MAX_ADMIN_BODY = 1024 * 1024;
/** How long a new admin connection may take to deliver its first request head (ms): 5 s, as the keep-alive idle. */
const FIRST_REQUEST_MS = 5_000;
const STOPPING = 'the process is stopping (draining after SIGTERM/SIGINT): nothing reloaded';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Why a bind failed, in words an operator acts on. */
const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'another process holds the port',
  EADDRNOTAVAIL: "the address is not this host's",
  EACCES: 'permission denied: a port below 1024 needs root or CAP_NET_BIND_SERVICE',
};

export class AdminServer {
  private server: Server;
  port = 0;
  private readonly tokenDigest: Buffer | null;
  private readonly metricsDigest: Buffer | null;

  constructor(private readonly opts: AdminOptions) {
    this.tokenDigest = opts.token !== undefined && opts.token !== '' ? digest(opts.token) : null;
    this.metricsDigest = opts.metricsToken !== undefined && opts.metricsToken !== '' ? digest(opts.metricsToken) : null;
    this.server = createServer((req, res) => { void this.handle(req, res); });
    this.server.keepAliveTimeout = 5_000;
    // node:http times a request head once it began and an idle keep-alive connection, not a new
    // connection that never sends a byte: those stayed open for good (one unauthenticated client held
    // 15,000 of them, each a descriptor of the process that also serves the proxy port)
    this.server.on('connection', (socket) => socket.setTimeout(FIRST_REQUEST_MS));
    this.server.on('request', (req: IncomingMessage) => req.socket.setTimeout(0));
    capConnections(this.server, opts.maxConnections ?? 256);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      // worded like the main listener's refusal, naming the config field: before, "listen EADDRINUSE: address already in use"
      const onError = (err: NodeJS.ErrnoException): void => reject(new Error(`admin.listen: cannot listen on ${this.opts.host}:${this.opts.port} (${LISTEN_PROBLEMS[err.code ?? ''] ?? err.message})`));
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        const a = this.server.address();
        this.port = typeof a === 'object' && a !== null ? a.port : 0;
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    return this.credential(req) === 'admin';
  }

  /** Which configured token the request presents (compared as SHA-256 digests in constant time), or null. */
  private credential(req: IncomingMessage): 'admin' | 'metrics' | null {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m === null) return null;
    const presented = digest(m[1]!);
    if (this.tokenDigest !== null && timingSafeEqual(presented, this.tokenDigest)) return 'admin';
    if (this.metricsDigest !== null && timingSafeEqual(presented, this.metricsDigest)) return 'metrics';
    return null;
  }

  /** The versions an action may change, as readiness reports them (config; cluster policy when present). */
  private versions(): Record<string, unknown> {
    const d = this.opts.readiness().detail;
    const out: Record<string, unknown> = { config_version: d.config_version ?? null };
    const policy = d.policy as { version?: unknown } | undefined;
    if (policy !== undefined && policy !== null && typeof policy === 'object' && policy.version !== undefined) out.policy_version = policy.version;
    else if (d.policy_version !== undefined) out.policy_version = d.policy_version;
    return out;
  }

  private send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
    const text = typeof body === 'string' && contentType !== 'application/json' ? body : JSON.stringify(body);
    // a body not read to its end (refused before reading it): close after the answer — to keep the
    // connection node:http would read and drop the rest, as long as the client sends it
    const req = res.req;
    if (!req.complete && (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0')) res.setHeader('connection', 'close');
    res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === '/healthz') {
        const h = this.opts.health?.() ?? { ok: true, detail: {} };
        return this.send(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'failing', ...h.detail });
      }
      if (path === '/readyz') {
        const r = this.opts.readiness();
        // Probes only need the verdict; issuer names, member ids and the config version
        // describe the deployment, so they are for holders of the admin token only.
        return this.send(res, r.ready ? 200 : 503, this.authorized(req) ? { ready: r.ready, ...r.detail } : { ready: r.ready });
      }
      const key = `${req.method} ${path}`;
      const known = path === '/metrics' || key in this.opts.routes || Object.keys(this.opts.routes).some((k) => k.endsWith(` ${path}`));
      if (!known) return this.send(res, 404, { error: 'not_found', message: `no admin endpoint ${path}` });
      const who = this.credential(req);
      const isScrape = path === '/metrics' && req.method === 'GET';
      if (who === 'metrics' && !isScrape) {
        this.opts.audit?.record({ action: auditedAction(req.method ?? 'GET', path) ?? `read ${path}`, actor: adminActor(req, 'metrics'), outcome: 'refused', status: 403 });
        res.setHeader('www-authenticate', 'Bearer realm="portcullis-admin", error="insufficient_scope"');
        return this.send(res, 403, {
          error: 'insufficient_scope', code: 'PORTCULLIS_ERR_ADMIN_FORBIDDEN',
          message: 'the metrics token (admin.metrics_token_env) reads GET /metrics only; this call needs the admin token',
        });
      }
      if (who === null) {
        this.opts.audit?.recordUnauthorized({ action: auditedAction(req.method ?? 'GET', path) ?? `read ${path}`, actor: adminActor(req, false), outcome: 'unauthorized', status: 401 });
        // a token sent but not accepted is told apart from none (RFC 6750 §3.1: error="invalid_token" only
        // then): "token required" sent a caller whose variable held another value looking for a missing header
        const presented = /^Bearer\s+\S+$/i.test(req.headers.authorization ?? '');
        res.setHeader('www-authenticate', presented ? 'Bearer realm="portcullis-admin", error="invalid_token"' : 'Bearer realm="portcullis-admin"');
        return this.send(res, 401, {
          error: 'invalid_token', code: 'PORTCULLIS_ERR_ADMIN_UNAUTHORIZED',
          message: this.tokenDigest === null ? 'admin token not configured (set admin.token_env and that variable)'
            : presented ? 'the bearer token sent is not this instance\'s admin token (the value of its admin.token_env variable)' : 'admin bearer token required',
        });
      }
      if (isScrape) {
        return this.send(res, 200, await this.opts.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
      }
      const handler = this.opts.routes[key];
      const action = this.opts.audit != null ? auditedAction(req.method ?? 'GET', path) : null;
      // a call refused before its handler ran (405, 413, a body that is not UTF-8) is an attempt the trail records too
      const refusedEarly = (status: number, message: string): void => {
        if (action === null) return;
        const v = this.versions();
        this.opts.audit!.record({ action, actor: adminActor(req, true), outcome: 'refused', status, before: v, after: v, detail: { message } });
      };
      if (handler === undefined) {
        // RFC 9110 §15.5.6: a 405 names the methods the endpoint takes
        const allow = [...(path === '/metrics' ? ['GET'] : []), ...Object.keys(this.opts.routes).filter((k) => k.endsWith(` ${path}`)).map((k) => k.split(' ')[0]!)];
        res.setHeader('allow', allow.join(', '));
        refusedEarly(405, `${req.method} not allowed on ${path}`);
        return this.send(res, 405, { error: 'method_not_allowed', message: `${req.method} not allowed on ${path}` });
      }
      // a stopping process (SIGTERM/SIGINT drain; readiness says `draining`) applies no new config:
      // say so, rather than whatever a half-stopped set of workers would make of it
      if (key === 'POST /reload' && this.opts.readiness().detail.draining === true) {
        refusedEarly(503, STOPPING);
        return this.send(res, 503, { reloaded: false, error: 'temporarily_unavailable', message: STOPPING });
      }
      const read = await readBody(req);
      if (read === null) {
        res.setHeader('connection', 'close'); // the rest of the body is discarded, not parsed as a next request
        refusedEarly(413, 'admin request body too large');
        return this.send(res, 413, { error: 'invalid_request', message: 'admin request body too large' });
      }
      // a lossy decode would act on (and store) a value the caller never sent: U+FFFD for each bad byte
      const body = decodeUtf8(read);
      if (body === null) {
        refusedEarly(400, 'body: not valid UTF-8');
        return this.send(res, 400, { error: 'invalid_request', message: 'body: not valid UTF-8' });
      }
      // a JSON body nested past any the endpoints take is refused unparsed (a policy body has its own caps: 422 naming the line)
      if (key !== 'POST /policy' && jsonNestsDeeper(body)) {
        refusedEarly(400, `body: nested deeper than ${MAX_ADMIN_JSON_DEPTH} levels`);
        return this.send(res, 400, { error: 'invalid_request', message: `body: nested deeper than ${MAX_ADMIN_JSON_DEPTH} levels` });
      }
      if (action === null) {
        const r = await handler(req, body);
        return this.send(res, r.status, r.body, r.contentType);
      }
      const before = this.versions();
      let r: Awaited<ReturnType<AdminHandler>>;
      try {
        r = await handler(req, body);
      } catch (err) {
        this.opts.audit!.record({ action, actor: adminActor(req, true), outcome: 'failed', status: 500, before, after: this.versions() });
        throw err;
      }
      const after = this.versions();
      const resBody = r.body as Record<string, unknown> | null;
      if (action === 'policy.push' && resBody !== null && typeof resBody === 'object' && resBody.version !== undefined) after.policy_version = resBody.version;
      this.opts.audit!.record({ action, actor: adminActor(req, true), outcome: outcomeOf(r.status), status: r.status, before, after, detail: adminDetail(action, body, r.status, r.body, req.url ?? '/') });
      return this.send(res, r.status, r.body, r.contentType);
    } catch (err) {
      // a client gone before its body ended is not a failure of the proxy: no error line, no stack (it paged operators)
      if (req.destroyed && (err as { code?: unknown }).code === 'ECONNRESET') {
        this.opts.logger.info({ path: (req.url ?? '/').split('?')[0], method: req.method }, 'admin request aborted by the client before its body ended');
        return;
      }
      this.opts.logger.error({ err }, 'admin request failed');
      if (!res.headersSent) this.send(res, 500, { error: 'server_error', message: 'internal error' });
      else res.destroy();
    }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `bytes` as text, or null when they are not valid UTF-8. */
function decodeUtf8(bytes: Buffer): string | null {
  try { return strictUtf8.decode(bytes); } catch { return null; }
}

/**
 * The request body's bytes, or null past MAX_ADMIN_BODY (1 MiB). Past it the rest is read and
 * dropped rather than the socket destroyed: a reset while the client is still sending would lose
 * the 413 (the caller closes the connection after answering).
 */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let chunks: Buffer[] | null = [];
    req.on('data', (c: Buffer) => {
      if (chunks === null) return;
      size += c.length;
      if (size > MAX_ADMIN_BODY) { chunks = null; resolve(null); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (chunks !== null) resolve(Buffer.concat(chunks)); });
    req.on('error', reject);
  });
}
