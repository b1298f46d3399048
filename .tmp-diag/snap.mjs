// heap snapshot of a JwtVerifier cache holding N tokens: bytes by constructor (self size)
import { writeHeapSnapshot, setFlagsFromString } from 'node:v8';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import pino from 'pino';
const { issuerSchema } = await import('/work/main/dist/node/config/schema.js');
const { JwtVerifier } = await import('/work/main/dist/node/jwt/index.js');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
const server = createServer((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const ISS = 'https://auth.example.com/realms/portcullis';
const v = new JwtVerifier({ issuers: { b: issuerSchema.parse({ issuer: ISS, jwks_uri: `http://127.0.0.1:${server.address().port}/`, audiences: ['orders'], algorithms: ['EdDSA'] }) }, poolSize: 1, cacheEntries: 20000, cacheBytes: 1e9, cacheMaxTtlS: 3600, logger: pino({ level: 'silent' }) });
v.start(); await v.whenReady(5000);
const now = Math.floor(Date.now() / 1000);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
for (let s = 0; s < 20000; s += 256) {
  const ps = [];
  for (let i = s; i < s + 256; i++) { const input = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' })}.${b64({ iss: ISS, sub: `user-${i}`, aud: 'orders', client_id: `client-${i % 500}`, scope: 'orders:read orders:write profile', iat: now, exp: now + 3600, jti: randomUUID() })}`; ps.push(v.verify(`${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`, null)); }
  await Promise.all(ps);
}
const f = writeHeapSnapshot('/tmp/cache.heapsnapshot');
console.log(f, v.stats().cache_entries); await v.close(); server.close();
