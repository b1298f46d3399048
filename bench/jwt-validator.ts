// Process entry for the forward-auth bench's peer: a minimal Node auth_request validator as
// teams write them (node:http + jose): verify the bearer JWT against the issuer's JWKS (iss,
// aud, exp, alg allowlist), require the scope, answer 200 with X-Auth-* identity headers or 401/403.
// No revocation, no DPoP, no introspection. argv: <jwksUri> <issuer> <audience> <scope> <alg>.
// Prints {"port":N} once listening on 127.0.0.1.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUri, issuer, audience, scope, alg] = process.argv.slice(2);
if (jwksUri === undefined || issuer === undefined || audience === undefined || scope === undefined || alg === undefined) {
  process.stderr.write('usage: jwt-validator <jwksUri> <issuer> <audience> <scope> <alg>\n');
  process.exit(2);
}
const jwks = createRemoteJWKSet(new URL(jwksUri));

const server = createServer((req, res) => {
  const h = req.headers.authorization;
  if (h === undefined || !h.startsWith('Bearer ')) { res.writeHead(401, { 'www-authenticate': 'Bearer' }); res.end(); return; }
  jwtVerify(h.slice(7), jwks, { issuer, audience, algorithms: [alg] }).then(({ payload }) => {
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(scope)) { res.writeHead(403, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${scope}"` }); res.end(); return; }
    res.writeHead(200, {
      'x-auth-subject': String(payload.sub ?? ''), 'x-auth-scopes': String(payload.scope ?? ''),
      'x-auth-client-id': String(payload.client_id ?? ''), 'x-auth-issuer': String(payload.iss ?? ''),
    });
    res.end();
  }, () => { res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }); res.end(); });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => { process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`); });
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); });
