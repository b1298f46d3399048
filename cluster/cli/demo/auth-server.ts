// Embedded OAuth 2.0 authorization server for `portcullis dev`, integration tests and
// benches: discovery, JWKS, token (client_credentials, RFC 8693 exchange) and RFC 7662
// introspection over node:http, with switchable failure modes and request counters. Body,
// form and client-authentication plumbing is auth-request.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  SignJWT, createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, jwtVerify,
  type JWK, type JWTPayload,
} from 'jose';
import { HttpError, authenticateClient, readForm, requestedAudience, sendJson, type Params } from './auth-request.js';

/** Asymmetric algorithms the server can generate keys for. */
export type AuthAlg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA';
/** Failure mode of an endpoint: `down` answers 503, `slow` delays the answer by `slowMs`. */
export type EndpointMode = 'normal' | 'down' | 'slow';

/** Options for `startAuthServer`; every field has a default. */
export interface AuthServerOptions {
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (ephemeral)
  issuerPath?: string; // appended to the base URL to form `iss`, e.g. '/realms/demo'
  algorithms?: AuthAlg[]; // default ['RS256', 'ES256']; the first one signs by default
  tokenTtlSeconds?: number; // default 3600 s
  clients?: Record<string, string>; // client_id -> secret
  /** Base URL clients and proxies use (issuer, endpoints); default http://host:port. Needed when binding 0.0.0.0 in a container. */
  publicUrl?: string;
}

/** Per-token signing options for `issueJwt`. */
export interface IssueJwtOptions {
  /** A generated alg, or 'none' (unsigned) / 'HS256' (HMAC keyed with the RS256 public PEM: alg-confusion attack). */
  alg?: string;
  /** A known kid signs with that key; an unknown kid is only written into the header (unknown-kid tests). */
  kid?: string;
  ttlSeconds?: number; // negative gives an already expired token
  typ?: string; // default 'at+jwt'; '' omits it
  header?: Record<string, unknown>; // extra protected-header fields, override the defaults
}

/** A running authorization server. */
export interface AuthServer {
  url: string;
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  introspectionEndpoint: string;
  /** Signs an RFC 9068 access token; caller claims override defaults, `undefined` removes a claim. */
  issueJwt(claims?: Record<string, unknown>, opts?: IssueJwtOptions): Promise<string>;
  /** Mints a random opaque token (base64url, 32 bytes) known to introspection until it expires. */
  issueOpaque(claims?: Record<string, unknown>, ttlSeconds?: number): string;
  /** Forgets an opaque token (introspection then says inactive); false if it was unknown. */
  revokeOpaque(token: string): boolean;
  /** Adds a new key per algorithm and signs with it; old keys stay in the JWKS unless dropOld. */
  rotateKeys(opts?: { dropOld?: boolean }): Promise<void>;
  setJwks(mode: EndpointMode, slowMs?: number): void;
  setIntrospection(mode: EndpointMode, slowMs?: number): void;
  /** Failure mode of the token endpoint (after client authentication is read, before a token is issued). */
  setToken(mode: EndpointMode, slowMs?: number): void;
  /** Lifetime of tokens the token endpoint issues from now on, s (default tokenTtlSeconds). */
  setTokenTtl(seconds: number): void;
  /** Every token endpoint request answered 200, oldest first (live array; no secrets, no tokens). */
  readonly tokenRequests: Array<{ grant_type: string; client_id: string; audience: string | null; scope: string | null; at: number }>;
  /** Requests received per endpoint (live object, also counts requests answered 503). */
  readonly counters: { jwks: number; introspection: number; token: number; discovery: number };
  resetCounters(): void;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
interface SigningKey { kid: string; alg: AuthAlg; privateKey: KeyLike; publicKey: KeyLike; jwk: JWK }
interface OpaqueEntry { claims: Record<string, unknown>; iat: number; exp: number }

const DEFAULT_CLIENTS = { 'demo-client': 'demo-secret', portcullis: 'portcullis-secret' };
const GT_CLIENT_CREDENTIALS = 'client_credentials';
const GT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
// Claims the exchanged token sets itself rather than copying from the subject token.
const EXCHANGE_OWN = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'scope', 'client_id', 'act', 'cnf']);
const now = (): number => Math.floor(Date.now() / 1000);
const b64u = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** Starts the server and resolves once it listens. Keys are generated at start (kids like `rs256-1`). */
export async function startAuthServer(opts: AuthServerOptions = {}): Promise<AuthServer> {
  const host = opts.host ?? '127.0.0.1';
  const algorithms: AuthAlg[] = opts.algorithms?.length ? [...opts.algorithms] : ['RS256', 'ES256'];
  const tokenTtl = opts.tokenTtlSeconds ?? 3600;
  const clients: Record<string, string> = { ...(opts.clients ?? DEFAULT_CLIENTS) };
  const issuerPath = opts.issuerPath ? '/' + opts.issuerPath.replace(/^\/+|\/+$/g, '') : '';

  const keys: SigningKey[] = []; // published, oldest first
  const current = new Map<AuthAlg, SigningKey>();
  const generation = new Map<AuthAlg, number>();
  let jwksBody = '';
  let localJwks = createLocalJWKSet({ keys: [] });
  const opaque = new Map<string, OpaqueEntry>();
  const timers = new Set<NodeJS.Timeout>();
  const modes = { jwks: { mode: 'normal' as EndpointMode, slowMs: 0 }, introspection: { mode: 'normal' as EndpointMode, slowMs: 0 }, token: { mode: 'normal' as EndpointMode, slowMs: 0 } };
  let issuedTtl = tokenTtl;
  const tokenRequests: AuthServer['tokenRequests'] = [];
  const counters = { jwks: 0, introspection: 0, token: 0, discovery: 0 };

  async function addKeys(dropOld: boolean): Promise<void> {
    const fresh: SigningKey[] = [];
    for (const alg of algorithms) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const n = (generation.get(alg) ?? 0) + 1;
      generation.set(alg, n);
      const kid = `${alg.toLowerCase()}-${n}`;
      fresh.push({ kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
    }
    if (dropOld) keys.length = 0;
    for (const k of fresh) { keys.push(k); current.set(k.alg, k); }
    const published = keys.map((k) => k.jwk);
    jwksBody = JSON.stringify({ keys: published });
    localJwks = createLocalJWKSet({ keys: published });
  }
  await addKeys(false);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) sendJson(res, err.status, { error: err.error, error_description: err.message }, err.headers);
      else if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const url = opts.publicUrl !== undefined ? opts.publicUrl.replace(/\/+$/, '') : `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const issuer = url + issuerPath;
  const discoveryPaths = new Set([
    '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server',
    `${issuerPath}/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server${issuerPath}`,
  ]);
  const discoveryBody = JSON.stringify({
    issuer,
    jwks_uri: `${url}/jwks`,
    token_endpoint: `${url}/token`,
    introspection_endpoint: `${url}/introspect`,
    grant_types_supported: [GT_CLIENT_CREDENTIALS, GT_TOKEN_EXCHANGE],
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    id_token_signing_alg_values_supported: algorithms,
    scopes_supported: ['orders:read', 'orders:write'],
  });

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
      timers.add(t);
    });
  }

  /** Applies an endpoint's failure mode; false when the request was answered or abandoned. */
  async function gate(m: { mode: EndpointMode; slowMs: number }, res: ServerResponse): Promise<boolean> {
    if (m.mode === 'down') {
      // no Retry-After: an introspection client holds its calls for one (server-hold.ts), and 'down' is an outage the
      // tests end at once, asking again at once
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'endpoint down (test mode)' });
      return false;
    }
    if (m.mode === 'slow') await delay(m.slowMs);
    return !res.destroyed;
  }

  async function verifyOwnJwt(token: string): Promise<JWTPayload | null> {
    try {
      return (await jwtVerify(token, localJwks, { issuer, algorithms })).payload;
    } catch {
      return null;
    }
  }

  function liveOpaque(token: string): OpaqueEntry | null {
    const e = opaque.get(token);
    if (e === undefined) return null;
    if (e.exp <= now()) { opaque.delete(token); return null; }
    return e;
  }

  async function issueJwt(claims: Record<string, unknown> = {}, o: IssueJwtOptions = {}): Promise<string> {
    const iat = now();
    const payload = withoutUndefined({
      iss: issuer, sub: 'alice', aud: 'portcullis-demo', scope: 'orders:read', client_id: 'demo-client',
      iat, exp: iat + (o.ttlSeconds ?? tokenTtl), jti: randomUUID(), ...claims,
    });
    const known = o.kid !== undefined ? keys.find((k) => k.kid === o.kid) : undefined;
    const alg = o.alg ?? known?.alg ?? algorithms[0]!;
    const key = known && known.alg === alg ? known : current.get(alg as AuthAlg);
    const header = withoutUndefined({ alg, typ: o.typ === '' ? undefined : (o.typ ?? 'at+jwt'), kid: o.kid ?? key?.kid, ...o.header });
    if (alg === 'none') return `${b64u(header)}.${b64u(payload)}.`;
    if (alg === 'HS256') {
      const rsa = current.get('RS256') ?? current.get('PS256') ?? keys[0]!;
      const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
      header.kid ??= rsa.kid;
      return new SignJWT(payload as JWTPayload).setProtectedHeader(header as { alg: string }).sign(secret);
    }
    if (key === undefined) throw new Error(`auth-server: no signing key for alg ${alg} (have ${algorithms.join(', ')})`);
    return new SignJWT(payload as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
  }

  function issueOpaque(claims: Record<string, unknown> = {}, ttlSeconds = tokenTtl): string {
    if (opaque.size > 0 && opaque.size % 4096 === 0) {
      const t = now();
      for (const [k, e] of opaque) if (e.exp <= t) opaque.delete(k);
    }
    const token = randomBytes(32).toString('base64url');
    const iat = now();
    opaque.set(token, {
      iat, exp: iat + ttlSeconds,
      claims: withoutUndefined({ sub: 'alice', aud: 'portcullis-demo', scope: 'orders:read', client_id: 'demo-client', jti: randomUUID(), ...claims }),
    });
    return token;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await readForm(req);
    const clientId = authenticateClient(req, params, clients);
    const grant = params.get('grant_type');
    if (grant === null || grant === '') throw new HttpError(400, 'invalid_request', 'grant_type is required');
    let claims: Record<string, unknown>;
    let issuedType: string | undefined;
    if (grant === GT_CLIENT_CREDENTIALS) {
      const scope = params.get('scope')?.trim();
      claims = { sub: clientId, client_id: clientId, scope: scope || undefined, aud: requestedAudience(params, 'portcullis-demo') };
    } else if (grant === GT_TOKEN_EXCHANGE) {
      claims = await exchange(params, clientId);
      issuedType = TT_ACCESS_TOKEN;
    } else {
      throw new HttpError(400, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
    }
    if (!(await gate(modes.token, res))) return;
    const accessToken = await issueJwt(claims, { ttlSeconds: issuedTtl });
    tokenRequests.push({ grant_type: grant, client_id: clientId, audience: params.getAll('audience').join(' ') || null, scope: params.get('scope'), at: Date.now() });
    sendJson(res, 200, withoutUndefined({
      access_token: accessToken, issued_token_type: issuedType, token_type: 'Bearer', expires_in: issuedTtl,
      scope: claims.scope,
    }), { pragma: 'no-cache' });
  }

  /** RFC 8693: the subject token must be live and ours; the result keeps its subject and adds `act`. */
  async function exchange(params: Params, clientId: string): Promise<Record<string, unknown>> {
    const subjectToken = params.get('subject_token');
    const subjectType = params.get('subject_token_type');
    if (!subjectToken || !subjectType) throw new HttpError(400, 'invalid_request', 'subject_token and subject_token_type are required');
    if (subjectType !== TT_ACCESS_TOKEN && subjectType !== TT_JWT) throw new HttpError(400, 'invalid_request', `unsupported subject_token_type ${subjectType}`);
    const wanted = params.get('requested_token_type');
    if (wanted !== null && wanted !== TT_ACCESS_TOKEN && wanted !== TT_JWT) throw new HttpError(400, 'invalid_request', `unsupported requested_token_type ${wanted}`);
    const subject: Record<string, unknown> | null = subjectToken.split('.').length === 3
      ? await verifyOwnJwt(subjectToken)
      : liveOpaque(subjectToken)?.claims ?? null;
    if (subject === null) throw new HttpError(400, 'invalid_grant', 'subject_token is invalid, expired or not issued here');
    const have = typeof subject.scope === 'string' ? subject.scope.split(' ').filter(Boolean) : [];
    const asked = params.get('scope')?.split(' ').filter(Boolean);
    if (asked && asked.some((s) => !have.includes(s))) throw new HttpError(400, 'invalid_scope', 'requested scope exceeds the subject token scope');
    const carried = Object.fromEntries(Object.entries(subject).filter(([k]) => !EXCHANGE_OWN.has(k)));
    const act: Record<string, unknown> = { sub: clientId };
    if (subject.act !== undefined) act.act = subject.act;
    const scope = (asked ?? have).join(' ');
    return {
      ...carried, sub: subject.sub, client_id: clientId, scope: scope || undefined, act,
      aud: requestedAudience(params, 'portcullis-demo'),
    };
  }

  async function introspect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await readForm(req);
    authenticateClient(req, params, clients);
    const tok = params.get('token');
    if (!tok) throw new HttpError(400, 'invalid_request', 'token is required');
    const entry = liveOpaque(tok);
    if (entry !== null) {
      sendJson(res, 200, { active: true, ...entry.claims, iss: issuer, exp: entry.exp, iat: entry.iat, token_type: 'Bearer' });
      return;
    }
    const payload = tok.split('.').length === 3 ? await verifyOwnJwt(tok) : null;
    if (payload !== null) {
      sendJson(res, 200, { active: true, ...payload, iss: issuer, exp: payload.exp, iat: payload.iat, token_type: 'Bearer' });
      return;
    }
    sendJson(res, 200, { active: false });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';
    if (discoveryPaths.has(path)) {
      if (!isGet) throw new HttpError(405, 'invalid_request', 'use GET', { allow: 'GET, HEAD' });
      counters.discovery++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(discoveryBody), 'cache-control': 'max-age=300' });
      res.end(discoveryBody);
    } else if (path === '/jwks') {
      if (!isGet) throw new HttpError(405, 'invalid_request', 'use GET', { allow: 'GET, HEAD' });
      counters.jwks++;
      if (!(await gate(modes.jwks, res))) return;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(jwksBody), 'cache-control': 'max-age=300' });
      res.end(jwksBody);
    } else if (path === '/token') {
      if (method !== 'POST') throw new HttpError(405, 'invalid_request', 'use POST', { allow: 'POST' });
      counters.token++;
      await token(req, res);
    } else if (path === '/introspect') {
      if (method !== 'POST') throw new HttpError(405, 'invalid_request', 'use POST', { allow: 'POST' });
      counters.introspection++;
      if (!(await gate(modes.introspection, res))) return;
      await introspect(req, res);
    } else {
      throw new HttpError(404, 'not_found', `no endpoint at ${path}`);
    }
  }

  return {
    url, issuer,
    jwksUri: `${url}/jwks`,
    tokenEndpoint: `${url}/token`,
    introspectionEndpoint: `${url}/introspect`,
    issueJwt,
    issueOpaque,
    revokeOpaque: (t) => opaque.delete(t),
    rotateKeys: (o) => addKeys(o?.dropOld === true),
    setJwks: (mode, slowMs = 2000) => { modes.jwks = { mode, slowMs }; },
    setIntrospection: (mode, slowMs = 2000) => { modes.introspection = { mode, slowMs }; },
    setToken: (mode, slowMs = 2000) => { modes.token = { mode, slowMs }; },
    setTokenTtl: (seconds) => { issuedTtl = seconds; },
    tokenRequests,
    counters,
    resetCounters: () => { counters.jwks = counters.introspection = counters.token = counters.discovery = 0; },
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
