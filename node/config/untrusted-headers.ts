// Request headers that upstream frameworks trust to override the client address, the URL
// or the method, and that a client must therefore never set through the proxy. Stripped
// before forwarding unless `server.forwarded.keep_headers` names them.

/**
 * Names that give an upstream another method than the request line's (Express method-override,
 * Rack::MethodOverride, Laravel/Symfony, ASP.NET). Stripped in proxy mode; at a decision
 * endpoint each must select the judged route (node/decision/override-headers.ts).
 */
export const METHOD_OVERRIDE_HEADERS: readonly string[] = Object.freeze(['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method']);

/**
 * Names that give an upstream another path (and query) than the request line's: IIS URL Rewrite /
 * Symfony < 4 / Zend (`X-Original-URL`, `X-Rewrite-URL`), nginx auth_request and Traefik
 * (`X-Original-URI`, `X-Forwarded-Uri`), `X-Forwarded-Path`, Envoy (`X-Envoy-Original-Path`).
 * Stripped in proxy mode; at a decision endpoint each must name the judged path.
 */
export const URL_OVERRIDE_HEADERS: readonly string[] = Object.freeze([
  'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-forwarded-uri', 'x-forwarded-path', 'x-envoy-original-path',
]);

/**
 * Lower-case names stripped from every forwarded request by default. Each one is read by a
 * common upstream stack as a statement the proxy made, not the client:
 * - client address: nginx `real_ip_header`, Rails/Rack, Spring, Java servlet fallbacks, Akamai/Cloudflare/Fastly conventions;
 * - URL: IIS URL Rewrite / Symfony / Zend (`X-Original-URL`, `X-Rewrite-URL`), nginx auth_request
 *   and Traefik (`X-Original-URI`, `X-Forwarded-Uri`), Spring/ASP.NET path bases (`X-Forwarded-Prefix`),
 *   Envoy (`X-Envoy-Original-Path`);
 * - host: `X-Original-Host` (Azure Application Gateway, ASP.NET Core's record of the original Host), `X-Host`,
 *   `X-HTTP-Host-Override`;
 * - scheme and port: Rack (`X-Forwarded-Ssl`, `X-Forwarded-Scheme`), Spring/Tomcat RemoteIpValve
 *   (`X-Forwarded-Port`), `Front-End-Https` (Microsoft);
 * - method: Spring HiddenHttpMethodFilter-style and Express method-override (`X-HTTP-Method-Override`…).
 * `Forwarded`, `X-Forwarded-For/-Proto/-Host` are handled apart (set or appended by the proxy).
 */
export const UNTRUSTED_REQUEST_HEADERS: readonly string[] = Object.freeze([
  // client address
  'x-real-ip', 'x-client-ip', 'true-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'fastly-client-ip',
  'x-originating-ip', 'x-remote-ip', 'x-remote-addr', 'x-forwarded',
  // Java servlet code's usual fallbacks after X-Forwarded-For (`getHeader("Proxy-Client-IP")`, WebLogic's
  // WL-Proxy-Client-IP), and the bare names some stacks and load balancers use
  'proxy-client-ip', 'wl-proxy-client-ip', 'client-ip', 'forwarded-for', 'x-proxyuser-ip',
  // URL and path
  ...URL_OVERRIDE_HEADERS, 'x-forwarded-prefix',
  // scheme, port, server
  'x-forwarded-port', 'x-forwarded-ssl', 'x-forwarded-scheme', 'x-url-scheme', 'front-end-https', 'x-forwarded-server',
  // host: Azure Application Gateway / ASP.NET Core's X-Original-Host, and the X-Host / X-HTTP-Host-Override
  // overrides some stacks read for the host (X-Forwarded-Host and Forwarded are the proxy's own)
  'x-original-host', 'x-host', 'x-http-host-override',
  // method
  ...METHOD_OVERRIDE_HEADERS,
  // httpoxy (CVE-2016-5385): CGI, PHP-FPM and Go's net/http/cgi hand `Proxy` to the application as
  // HTTP_PROXY, which HTTP clients there use for their outbound calls (no legitimate request field)
  'proxy',
]);

const UNTRUSTED = new Set(UNTRUSTED_REQUEST_HEADERS);

/** True when `lowerName` is on the default strip list (what `keep_headers` may name). */
export function isUntrustedHeader(lowerName: string): boolean {
  return UNTRUSTED.has(lowerName);
}

const compiled = new WeakMap<readonly string[], ReadonlySet<string>>();

/**
 * The names stripped for a config: the default list minus `keep` (lower-case names, as the
 * schema stores them). Computed once per config (the config is frozen, so its array is the key).
 */
export function strippedRequestHeaders(keep: readonly string[]): ReadonlySet<string> {
  let s = compiled.get(keep);
  if (s === undefined) {
    const kept = new Set(keep);
    s = new Set(UNTRUSTED_REQUEST_HEADERS.filter((n) => !kept.has(n)));
    compiled.set(keep, s);
  }
  return s;
}
