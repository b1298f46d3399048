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
 * - method: Spring HiddenHttpMethodFilter-style and Express method-override (`X-HTTP-Method-Override`…);
 * - who the client is, as another authenticating proxy or platform asserts it to the apps behind it
 *   (an app moved behind Portcullis from one of them still believes its header): see IDENTITY_ASSERTION_HEADERS;
 * - the client certificate, as TLS-terminating proxies pass it (RFC 9440 `Client-Cert`, nginx, Traefik, ALB, Azure).
 * `Forwarded`, `X-Forwarded-For/-Proto/-Host` are handled apart (set or appended by the proxy).
 */
/**
 * Identity that another authenticating proxy or platform hands its upstreams: oauth2-proxy
 * (`X-Forwarded-User`/`-Email`/`-Groups`/`-Preferred-Username`/`-Access-Token`), Authelia, Traefik
 * and Caddy forward-auth (`Remote-User`/`-Groups`/`-Email`/`-Name`), Kubernetes request-header
 * authentication and Apache (`X-Remote-User`/`-Group`), Grafana's auth proxy (`X-WEBAUTH-USER`),
 * AWS ALB (`X-Amzn-Oidc-*`), Google IAP (`X-Goog-Authenticated-User-*`, `X-Goog-IAP-JWT-Assertion`),
 * Azure App Service (`X-MS-Client-Principal*`), Cloudflare Access (`Cf-Access-*`), Pomerium, Kong's
 * authentication and ACL plugins (`X-Consumer-*`, `X-Credential-Identifier`/`-Username`, `X-Authenticated-*`,
 * `X-Anonymous-Consumer`), Google Cloud Endpoints (ESP) and API Gateway (`X-Endpoint-API-UserInfo`,
 * `X-Apigateway-Api-Userinfo`). The proxy's own identity headers are `x-auth-*` (`identity.strip_prefixes`), stripped apart.
 */
export const IDENTITY_ASSERTION_HEADERS: readonly string[] = Object.freeze([
  'x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username', 'x-forwarded-access-token',
  'remote-user', 'remote-groups', 'remote-email', 'remote-name',
  'x-remote-user', 'x-remote-group', 'x-webauth-user',
  'x-amzn-oidc-data', 'x-amzn-oidc-identity', 'x-amzn-oidc-accesstoken',
  'x-goog-authenticated-user-email', 'x-goog-authenticated-user-id', 'x-goog-iap-jwt-assertion',
  'x-ms-client-principal', 'x-ms-client-principal-name', 'x-ms-client-principal-id', 'x-ms-client-principal-idp',
  'cf-access-jwt-assertion', 'cf-access-authenticated-user-email', 'x-pomerium-jwt-assertion',
  'x-consumer-id', 'x-consumer-custom-id', 'x-consumer-username', 'x-consumer-groups', 'x-credential-identifier',
  'x-authenticated-userid', 'x-authenticated-scope', 'x-credential-username', 'x-authenticated-groups', 'x-anonymous-consumer',
  'x-endpoint-api-userinfo', 'x-apigateway-api-userinfo',
]);

/**
 * The client certificate as a TLS-terminating proxy passes it: RFC 9440 (`Client-Cert`,
 * `Client-Cert-Chain`), nginx conventions, Traefik `passTLSClientCert`, AWS ALB mTLS, Azure ARR.
 * The proxy's own is `X-Forwarded-Client-Cert` (mTLS listener), dropped apart.
 */
export const CLIENT_CERT_HEADERS: readonly string[] = Object.freeze([
  'client-cert', 'client-cert-chain', 'ssl-client-cert', 'x-ssl-client-cert', 'x-client-cert', 'x-ssl-client-verify',
  'x-ssl-client-s-dn', 'x-ssl-client-dn', 'x-client-verify', 'x-forwarded-tls-client-cert', 'x-forwarded-tls-client-cert-info',
  'x-amzn-mtls-clientcert', 'x-amzn-mtls-clientcert-leaf', 'x-arr-clientcert',
]);

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
  // identity and client certificate, as other proxies assert them
  ...IDENTITY_ASSERTION_HEADERS, ...CLIENT_CERT_HEADERS,
]);

const UNTRUSTED = new Set(UNTRUSTED_REQUEST_HEADERS);

/** True when `lowerName` is on the default strip list (what `keep_headers` may name). */
export function isUntrustedHeader(lowerName: string): boolean {
  return UNTRUSTED.has(lowerName);
}

const compiled = new WeakMap<readonly string[], ReadonlySet<string>>();

/**
 * grpc-gateway's spelling of a header it hands the gRPC service as metadata (`Grpc-Metadata-X-Forwarded-User`
 * arrives as `x-forwarded-user`), as for the proxy's own identity headers (node/pipeline/mutate.ts).
 */
export const GATEWAY_METADATA_PREFIX = 'grpc-metadata-';

/**
 * The forwarding fields the proxy writes itself (node/pipeline/forward.ts drops a client's copy): only
 * their grpc-gateway spelling is stripped with this list, which the gateway hands the service as the
 * same metadata — `x-forwarded-for` ahead of the value it appends, `x-forwarded-client-cert` alone.
 */
export const PROXY_FORWARDING_HEADERS: readonly string[] = Object.freeze(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-forwarded-client-cert']);

/**
 * The names stripped for a config: the default list minus `keep` (lower-case names, as the
 * schema stores them), and grpc-gateway's spelling of every name of the list and of the proxy's own
 * forwarding fields (a trusted front proxy sets none of those, so `keep` does not keep them).
 * Computed once per config (the config is frozen, so its array is the key).
 */
export function strippedRequestHeaders(keep: readonly string[]): ReadonlySet<string> {
  let s = compiled.get(keep);
  if (s === undefined) {
    const kept = new Set(keep);
    const out = new Set(UNTRUSTED_REQUEST_HEADERS.filter((n) => !kept.has(n)));
    for (const n of [...UNTRUSTED_REQUEST_HEADERS, ...PROXY_FORWARDING_HEADERS]) out.add(GATEWAY_METADATA_PREFIX + n);
    compiled.set(keep, s = out);
  }
  return s;
}
