// The edge files in deploy/edge/ that cannot run here (Traefik, Caddy, Envoy, Istio) checked
// against what Portcullis answers: they call a decision endpoint deploy/edge/portcullis-decision.yaml
// configures, in its dialect; they send what a decision needs (credentials, DPoP proof, scheme);
// they copy every default identity header upstream and strip client copies; they fail closed;
// none caches verdicts. nginx and HAProxy run for real in edges.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_IDENTITY } from '../../../node/pipeline/index.js';
import { validateConfig } from '../../../node/config/index.js';
import { CLIENT_CERT_HEADERS, IDENTITY_ASSERTION_HEADERS, METHOD_OVERRIDE_HEADERS, URL_OVERRIDE_HEADERS } from '../../../node/config/untrusted-headers.js';
import { EDGE_DIR } from './edge-fixtures.js';

const read = (f: string): string => readFileSync(join(EDGE_DIR, f), 'utf8');
const IDENTITY = Object.keys(DEFAULT_IDENTITY.headers);
/** Lower-case names every edge removes towards the app: host overrides, then method and URL overrides (Portcullis's own lists). */
const OVERRIDES = ['x-original-host', 'x-host', 'x-http-host-override', ...METHOD_OVERRIDE_HEADERS, ...URL_OVERRIDE_HEADERS];

/** Other proxies' identity assertions and client-certificate headers: every edge removes client copies (proxy mode strips them). */
const ASSERTED = [...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS];

const portcullis = validateConfig(parse(read('portcullis-decision.yaml')));
const endpoints = portcullis.ok ? portcullis.config.server.decision.endpoints : [];
const endpoint = (dialect: string): string => endpoints.find((e) => e.dialect === dialect)!.path;

/** The default identity headers as a client may spell them past an edge: dashes, underscores, a mix, grpc-gateway's prefix. */
function identitySpellings(): string[] {
  return IDENTITY.flatMap((h) => {
    const n = h.toLowerCase();
    return [n, n.replace(/-/g, '_'), n.replace('-', '_'), `grpc-metadata-${n}`];
  });
}

/**
 * The key Go's net/http files a request header under (textproto.CanonicalMIMEHeaderKey: upper case
 * after each `-` and at the start, lower case elsewhere): Traefik matches authResponseHeadersRegex
 * against these keys, not the spelling the client sent.
 */
function goKey(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

/** What the cookie-token rules (CSRF, WebSocket Origin) read: the page's origin and a handshake's marks. */
const BROWSER_HEADERS = ['origin', 'sec-fetch-site', 'sec-websocket-key', 'sec-websocket-version'];

describe('deploy/edge', () => {
  it('portcullis-decision.yaml is a valid config with an auto and an envoy endpoint', () => {
    expect(portcullis.ok, JSON.stringify(portcullis.ok ? null : portcullis.errors)).toBe(true);
    expect(endpoints.map((e) => e.dialect).sort()).toEqual(['auto', 'envoy']);
  });

  it('nginx.conf and haproxy.cfg call the auto endpoint and cache no verdict', () => {
    const nginx = read('nginx.conf');
    expect(nginx).toContain(`auth_request ${endpoint('auto')};`);
    expect(nginx).not.toMatch(/^\s*proxy_cache\s/m);
    for (const h of IDENTITY) expect(nginx, h).toMatch(new RegExp(`proxy_set_header ${h} `));
    expect(read('haproxy.cfg')).toContain(endpoint('auto'));
    expect(read('haproxy.cfg')).not.toMatch(/^\s*(cache|http-request cache-use)/m);
  });

  it('nginx.conf and haproxy.cfg remove every host, method and URL override towards the app', () => {
    const nginx = read('nginx.conf').toLowerCase();
    const haproxy = read('haproxy.cfg').toLowerCase();
    for (const h of OVERRIDES) {
      expect(nginx, h).toMatch(new RegExp(`proxy_set_header ${h} +"";`));
      expect(haproxy, h).toMatch(new RegExp(`http-request del-header ${h}\\n`));
    }
  });

  it('every edge names every identity assertion and client-certificate header of node/config/untrusted-headers.ts', () => {
    // adding a name to the lists without the edges fails here. nginx: set to "" towards the app; HAProxy: deleted
    // before the check (the Lua sets the verdict's); Caddy: removed before forward_auth; Traefik: a middleware
    // emptying them, run before ForwardAuth on every router
    const nginx = read('nginx.conf').toLowerCase();
    const haproxy = read('haproxy.cfg').toLowerCase();
    const caddy = read('Caddyfile').toLowerCase();
    const t = parse(read('traefik-dynamic.yaml')) as { http: { middlewares: Record<string, { headers?: { customRequestHeaders: Record<string, string> } }>; routers: Record<string, { middlewares: string[] }> } };
    const custom = t.http.middlewares['client-identity']!.headers!.customRequestHeaders;
    expect(Object.keys(custom).map((h) => h.toLowerCase())).toEqual([...ASSERTED, ...ASSERTED.map((h) => `grpc-metadata-${h}`)]);
    expect(new Set(Object.values(custom))).toEqual(new Set(['']));
    for (const [name, r] of Object.entries(t.http.routers)) expect(r.middlewares[0], name).toBe('client-identity');
    const check = haproxy.indexOf('http-request lua.portcullis_auth');
    const forward = caddy.indexOf('forward_auth portcullis');
    for (const h of ASSERTED) {
      expect(nginx, h).toMatch(new RegExp(`proxy_set_header ${h} +"";`));
      expect(haproxy.indexOf(`http-request del-header ${h}\n`), h).toBeGreaterThan(-1);
      expect(haproxy.indexOf(`http-request del-header ${h}\n`), `${h} before the check`).toBeLessThan(check);
      expect(caddy.indexOf(`request_header -${h}\n`), h).toBeGreaterThan(caddy.indexOf('route {'));
      expect(caddy.indexOf(`request_header -${h}\n`), `${h} before forward_auth`).toBeLessThan(forward);
    }
  });

  it('nginx, HAProxy, Caddy and Traefik clear grpc-gateway\'s Grpc-Metadata- spelling of the identity, assertion and certificate headers', () => {
    // a grpc-gateway app hands Grpc-Metadata-<name> to its gRPC service as metadata <name>; before, each of these
    // edges passed a client's Grpc-Metadata-X-Auth-Subject on (nginx and HAProxy run it in edges.test.ts)
    const nginx = read('nginx.conf').toLowerCase();
    const haproxy = read('haproxy.cfg').toLowerCase();
    const caddy = read('Caddyfile').toLowerCase();
    const check = haproxy.indexOf('http-request lua.portcullis_auth');
    const forward = caddy.indexOf('forward_auth portcullis');
    // nginx names each identity header it sets; HAProxy, Caddy and Traefik remove the whole prefix
    for (const h of IDENTITY) expect(nginx, h).toMatch(new RegExp(`proxy_set_header grpc-metadata-${h.toLowerCase()} +"";`));
    expect(haproxy.indexOf('http-request del-header grpc-metadata-x-auth- -m beg\n')).toBeGreaterThan(-1);
    expect(haproxy.indexOf('http-request del-header grpc-metadata-x-auth- -m beg\n'), 'before the check').toBeLessThan(check);
    expect(caddy.indexOf('request_header -grpc-metadata-x-auth-*\n')).toBeGreaterThan(caddy.indexOf('route {'));
    expect(caddy.indexOf('request_header -grpc-metadata-x-auth-*\n'), 'before forward_auth').toBeLessThan(forward);
    for (const h of ASSERTED.map((n) => `grpc-metadata-${n}`)) {
      expect(nginx, h).toMatch(new RegExp(`proxy_set_header ${h} +"";`));
      expect(haproxy.indexOf(`http-request del-header ${h}\n`), `${h} before the check`).toBeGreaterThan(-1);
      expect(haproxy.indexOf(`http-request del-header ${h}\n`), `${h} before the check`).toBeLessThan(check);
      expect(caddy.indexOf(`request_header -${h}\n`), h).toBeGreaterThan(caddy.indexOf('route {'));
      expect(caddy.indexOf(`request_header -${h}\n`), `${h} before forward_auth`).toBeLessThan(forward);
    }
    // Traefik: ForwardAuth removes the request's headers its regex matches (Go's canonical spelling) before copying the verdict's
    const t = parse(read('traefik-dynamic.yaml')) as { http: { middlewares: Record<string, { forwardAuth?: { authResponseHeadersRegex: string } }> } };
    for (const [name, m] of Object.entries(t.http.middlewares)) {
      if (m.forwardAuth === undefined) continue;
      const re = new RegExp(m.forwardAuth.authResponseHeadersRegex);
      for (const h of [...IDENTITY, 'X-Auth-Other']) expect(re.test(`Grpc-Metadata-${h}`), `${name} Grpc-Metadata-${h}`).toBe(true);
      expect(re.test('Grpc-Metadata-Trace-Tag'), 'the app\'s own metadata passes').toBe(false);
    }
  });

  it('nginx.conf calls Portcullis on the unix socket portcullis-decision.yaml opens, over keep-alive HTTP/1.1 without the body', () => {
    const nginx = read('nginx.conf');
    const sock = portcullis.ok ? portcullis.config.server.decision.unix_socket?.path : undefined;
    expect(sock).toBeDefined();
    expect(nginx).toContain(`server unix:${sock};`);
    const auth = nginx.slice(nginx.indexOf('location = /_portcullis/auth'));
    for (const d of ['proxy_pass_request_body off;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";']) expect(auth, d).toContain(d);
    expect(nginx.slice(nginx.indexOf('upstream portcullis_decision'))).toMatch(/^\s*keepalive \d+;/m);
  });

  it('Traefik: ForwardAuth to the auto endpoint, X-Forwarded-* not taken from clients, every X-Auth-* replaced', () => {
    const t = parse(read('traefik-dynamic.yaml')) as { http: { middlewares: Record<string, { forwardAuth?: Record<string, unknown>; headers?: { customRequestHeaders: Record<string, string> } }>; routers: Record<string, { middlewares: string[] }> } };
    // every router also removes the host overrides an app may read instead of the judged Host
    const custom = t.http.middlewares['client-overrides']!.headers!.customRequestHeaders;
    expect(Object.keys(custom).map((h) => h.toLowerCase())).toEqual(OVERRIDES);
    expect(new Set(Object.values(custom))).toEqual(new Set(['']));
    for (const [name, r] of Object.entries(t.http.routers)) expect(r.middlewares, name).toContain('client-overrides');
    for (const [name, m] of Object.entries(t.http.middlewares)) {
      if (m.forwardAuth === undefined) continue;
      const fa = m.forwardAuth;
      expect(new URL(String(fa.address)).pathname, name).toBe(endpoint('auto'));
      expect(fa.trustForwardHeader, name).toBe(false);
      const re = new RegExp(String(fa.authResponseHeadersRegex));
      for (const h of [...IDENTITY, 'X-Auth-Anything']) expect(re.test(h), `${name} ${h}`).toBe(true);
      expect(fa.authRequestHeaders, 'every client header reaches Portcullis').toBeUndefined();
    }
    expect(new RegExp(String(t.http.middlewares.portcullis!.forwardAuth!.authResponseHeadersRegex)).test('Authorization'), 'a verdict without Authorization would delete the client token').toBe(false);
    // the internal-token middleware also lists DPoP, which no verdict carries: Traefik deletes the client's proof,
    // which goes with the token it replaces (as proxy mode drops it). Before, the app got it beside the internal token.
    // Traefik matches the regex (case-sensitive) against Go's canonical keys: a client's `DPoP` is filed as `Dpop`.
    // Before, the regex said `DPoP`, matched no key Traefik ever holds, and the client's proof reached the app.
    const internal = new RegExp(String(t.http.middlewares['portcullis-internal-token']!.forwardAuth!.authResponseHeadersRegex));
    for (const sent of ['DPoP', 'dpop', 'DPOP']) expect(internal.test(goKey(sent)), `${sent} as Traefik holds it: ${goKey(sent)}`).toBe(true);
    expect(new RegExp(String(t.http.middlewares.portcullis!.forwardAuth!.authResponseHeadersRegex)).test(goKey('DPoP')), 'elsewhere the proof goes with the client token').toBe(false);
  });

  it('Caddy: forward_auth to the auto endpoint, client X-Auth-* removed first, identity headers copied', () => {
    const c = read('Caddyfile');
    expect(c).toContain(`uri ${endpoint('auto')}`);
    expect(c.indexOf('request_header -X-Auth-*')).toBeGreaterThan(-1);
    expect(c.indexOf('request_header -X-Auth-*')).toBeLessThan(c.indexOf('forward_auth portcullis'));
    // the order of the file is the order of execution only inside a route block (Caddy's default order runs
    // forward_auth before request_header: the removal would delete the verdict's copied identity headers)
    const route = c.indexOf('route {');
    expect(route, 'directives inside route { }').toBeGreaterThan(-1);
    expect(route).toBeLessThan(c.indexOf('request_header -X-Auth-*'));
    expect(c.indexOf('reverse_proxy app:')).toBeGreaterThan(c.indexOf('forward_auth portcullis'));
    const copy = /copy_headers ([^\n]+)/.exec(c)![1]!.trim().split(/\s+/);
    for (const h of IDENTITY) expect(copy, h).toContain(h);
    for (const h of OVERRIDES) expect(c.toLowerCase(), h).toContain(`request_header -${h}\n`);
    // internal-token paths: the client's DPoP proof is removed after the check (which needs it), as Traefik's
    // ledger router does. Before, the proof reached the app beside the internal token behind Caddy.
    const internal = /^\s*@(\S+) path \/ledger\/\*$/m.exec(c)?.[1];
    expect(internal, 'a matcher for the internal-token paths').toBeDefined();
    const drop = c.indexOf(`request_header @${internal} -DPoP`);
    expect(drop, 'DPoP removed on internal-token paths').toBeGreaterThan(c.indexOf('forward_auth portcullis'));
    expect(drop).toBeLessThan(c.indexOf('reverse_proxy app:'));
    // an Upgrade to anything but WebSocket is answered 403 before the check: forward_auth drops Upgrade from the
    // call, so Portcullis cannot refuse it, and reverse_proxy would tunnel it to an app answering 101 (h2c smuggling)
    const foreign = /@(\S+) \{\n\s*header Upgrade \*\n\s*not header_regexp Upgrade \(\?i\)\^websocket\$\n\s*\}/.exec(c)?.[1];
    expect(foreign, 'a matcher for non-WebSocket upgrades').toBeDefined();
    const refuse = c.indexOf(`respond @${foreign} `);
    expect(refuse, 'refused with 403').toBeGreaterThan(route);
    expect(c.slice(refuse).split('\n')[0]).toMatch(/PORTCULLIS_ERR_DECISION_UPGRADE.* 403$/);
    expect(refuse).toBeLessThan(c.indexOf('forward_auth portcullis'));
  });

  it('Envoy: HTTP ext_authz to the envoy endpoint, fail closed with 503, the headers a decision needs', () => {
    const e = parse(read('envoy.yaml')) as any;
    const hcm = e.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const f = hcm.http_filters.find((x: any) => x.name === 'envoy.filters.http.ext_authz').typed_config;
    expect(f.failure_mode_allow).toBe(false);
    expect(f.status_on_error.code).toBe('ServiceUnavailable');
    expect(f.http_service.path_prefix).toBe(endpoint('envoy'));
    const sent = f.http_service.authorization_request.allowed_headers.patterns.map((p: any) => p.exact ?? `${p.prefix}*`);
    expect(sent).toEqual(expect.arrayContaining(['authorization', 'dpop', 'x-forwarded-proto', 'x-auth-*']));
    // every method and URL override reaches Portcullis to be judged, in either spelling (Envoy matches the whole name)
    const re = f.http_service.authorization_request.allowed_headers.patterns.filter((p: any) => p.safe_regex !== undefined).map((p: any) => new RegExp(`^(?:${p.safe_regex.regex})$`));
    for (const h of [...METHOD_OVERRIDE_HEADERS, ...URL_OVERRIDE_HEADERS]) {
      for (const spelling of [h, h.replace(/-/g, '_')]) expect(re.some((r: RegExp) => r.test(spelling)), spelling).toBe(true);
    }
    expect(re.some((r: RegExp) => r.test('x-http-method-overrides')), 'whole names only').toBe(false);
    // every spelling of an identity header an app may read as it reaches the check, so the answer names it for
    // removal: `x_auth_subject` (Envoy passes underscore names; CGI, WSGI, Rack read X-Auth-Subject) and
    // grpc-gateway's `grpc-metadata-x-auth-subject`. Before, only `x-auth-*` was sent: the others reached the app.
    const pats = f.http_service.authorization_request.allowed_headers.patterns as any[];
    const passes = (name: string): boolean => pats.some((p) => p.exact === name || (p.prefix !== undefined && name.startsWith(p.prefix))
      || (p.safe_regex !== undefined && new RegExp(`^(?:${p.safe_regex.regex})$`).test(name)));
    for (const spelling of identitySpellings()) expect(passes(spelling), spelling).toBe(true);
    // other proxies' identity assertions and client-certificate headers reach the check, so the answer names them for removal
    for (const h of ASSERTED) for (const spelling of [h, h.replace(/-/g, '_')]) expect(passes(spelling), spelling).toBe(true);
    // a route mapping a claim to one (X-Forwarded-User: sub): Envoy takes the verdict's value, replacing the client's
    const upPats = f.http_service.authorization_response.allowed_upstream_headers.patterns as any[];
    const upstreamPasses = (name: string): boolean => upPats.some((p) => p.exact === name || (p.prefix !== undefined && name.startsWith(p.prefix))
      || (p.safe_regex !== undefined && new RegExp(`^(?:${p.safe_regex.regex})$`).test(name)));
    for (const h of IDENTITY_ASSERTION_HEADERS) expect(upstreamPasses(h), h).toBe(true);
    expect(upstreamPasses('x-forwarded-for'), 'whole names only').toBe(false);
    expect(passes('forwarded'), 'Forwarded (its host= is judged)').toBe(true);
    // the page's origin and a WebSocket handshake's marks: a cookie token's CSRF and WebSocket Origin rules
    // are judged from them. Before, none reached the check: a cross-site POST or socket with the cookie passed.
    for (const h of BROWSER_HEADERS) expect(passes(h), h).toBe(true);
    const up = f.http_service.authorization_response.allowed_upstream_headers.patterns.map((p: any) => p.exact ?? `${p.prefix}*`);
    expect(up).toEqual(expect.arrayContaining(['x-auth-*', 'authorization']));
    const client = f.http_service.authorization_response.allowed_client_headers.patterns.map((p: any) => p.exact);
    expect(client).toEqual(expect.arrayContaining(['www-authenticate', 'retry-after', 'dpop-nonce', 'content-type']));
    // a nonce refreshed on an allowed request reaches the client (before, Envoy kept it: one 401 use_dpop_nonce per turn)
    expect(f.http_service.authorization_response.allowed_client_headers_on_success.patterns.map((p: any) => p.exact)).toEqual(['dpop-nonce']);
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.route_config.request_headers_to_remove).toEqual(['x-forwarded-host', ...OVERRIDES]);
  });

  it('Envoy gRPC: ext_authz grpc_service to an HTTP/2 cluster on server.http2\'s port, fail closed with 503, no request body', () => {
    expect(portcullis.ok && portcullis.config.server.decision.grpc).toBe(true);
    const port = portcullis.ok ? portcullis.config.server.http2!.listen.port : -1;
    const e = parse(read('envoy-grpc.yaml')) as any;
    const hcm = e.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const f = hcm.http_filters.find((x: any) => x.name === 'envoy.filters.http.ext_authz').typed_config;
    expect(f.transport_api_version).toBe('V3');
    expect(f.failure_mode_allow).toBe(false);
    expect(f.status_on_error.code).toBe('ServiceUnavailable');
    expect(f.with_request_body).toBeUndefined();
    const cluster = e.static_resources.clusters.find((c: any) => c.name === f.grpc_service.envoy_grpc.cluster_name);
    expect(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options).toEqual({});
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(port);
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.route_config.request_headers_to_remove).toEqual(['x-forwarded-host', ...OVERRIDES]);
  });

  it('Istio: an envoyExtAuthzGrpc provider on server.http2\'s port, fail closed', () => {
    const docs = parseAllDocuments(read('istio.yaml')).map((d) => d.toJS() as any);
    const g = docs[0].spec.meshConfig.extensionProviders.find((p: any) => p.envoyExtAuthzGrpc !== undefined).envoyExtAuthzGrpc;
    expect(g.port).toBe(portcullis.ok ? portcullis.config.server.http2!.listen.port : -1);
    expect(g.failOpen).toBe(false);
    expect(g.statusOnError).toBe('503');
  });

  it('Istio: a CUSTOM AuthorizationPolicy naming an envoyExtAuthzHttp provider for the envoy endpoint', () => {
    const docs = parseAllDocuments(read('istio.yaml')).map((d) => d.toJS() as any);
    const provider = docs[0].spec.meshConfig.extensionProviders[0];
    expect(provider.envoyExtAuthzHttp.pathPrefix).toBe(endpoint('envoy'));
    expect(provider.envoyExtAuthzHttp.failOpen).toBe(false);
    expect(provider.envoyExtAuthzHttp.includeRequestHeadersInCheck).toEqual(expect.arrayContaining(['authorization', 'dpop', 'x-forwarded-proto', 'x-auth-*']));
    expect(provider.envoyExtAuthzHttp.headersToUpstreamOnAllow).toEqual(expect.arrayContaining(['x-auth-*', 'authorization']));
    // a DPoP nonce refreshed on an allowed request reaches the client (before, the sidecar kept it)
    expect(provider.envoyExtAuthzHttp.headersToDownstreamOnAllow).toEqual(['dpop-nonce']);
    // Istio's lists take exact names and `prefix*` (as envoy.yaml above: every identity spelling reaches the check)
    const included = provider.envoyExtAuthzHttp.includeRequestHeadersInCheck as string[];
    const passes = (name: string): boolean => included.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
    for (const spelling of identitySpellings()) expect(passes(spelling), spelling).toBe(true);
    // and every host, method and URL override (as envoy.yaml sends them): the sidecar passes them to the app, so
    // Portcullis must see them to refuse one selecting another route or path. Before, none reached the check.
    expect(passes('forwarded'), 'Forwarded (its host= is judged)').toBe(true);
    for (const h of BROWSER_HEADERS) expect(passes(h), h).toBe(true);
    for (const h of ['x-forwarded-host', ...OVERRIDES]) {
      for (const spelling of [h, h.replace(/-/g, '_')]) expect(passes(spelling), spelling).toBe(true);
    }
    for (const h of ASSERTED) for (const spelling of [h, h.replace(/-/g, '_')]) expect(passes(spelling), spelling).toBe(true);
    const upstream = provider.envoyExtAuthzHttp.headersToUpstreamOnAllow as string[];
    for (const h of IDENTITY_ASSERTION_HEADERS) expect(upstream.some((p) => (p.endsWith('*') ? h.startsWith(p.slice(0, -1)) : h === p)), h).toBe(true);
    const policy = docs.find((d) => d.kind === 'AuthorizationPolicy');
    expect(policy.spec.action).toBe('CUSTOM');
    expect(policy.spec.provider.name).toBe(provider.name);
  });
});
