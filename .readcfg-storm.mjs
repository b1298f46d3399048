import http from 'node:http';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
let hits = 0;
const s = http.createServer((req, res) => { hits++; res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ keys: [jwk] })); });
await new Promise((r) => s.listen(0, '127.0.0.1', r));
const J = s.address().port;
const maxr = process.argv[2];
writeFileSync('/tmp/readcfg-probe/storm.yaml', `server: { listen: { host: 127.0.0.1, port: 0 } }
admin: { listen: { host: 127.0.0.1, port: 0 } }
issuers: { a: { issuer: "http://127.0.0.1:${J}", discovery: false, jwks_uri: "http://127.0.0.1:${J}/jwks", audiences: [x], jwks: { max_refresh_s: ${maxr} } } }
upstreams: { app: { targets: ["http://127.0.0.1:9"] } }
routes: [ { name: all, match: { path: "/*" }, upstream: app, auth: {} } ]
log: { level: warn }
`);
const p = spawn(process.execPath, ['dist/cluster/cli/main.js', 'serve', '--config', '/tmp/readcfg-probe/storm.yaml'], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = ''; p.stdout.on('data', (d) => out += d); p.stderr.on('data', (d) => out += d);
const code = await Promise.race([new Promise((r) => p.on('exit', r)), new Promise((r) => setTimeout(() => r('running'), 3000))]);
console.log(`max_refresh_s ${maxr}: ${code}, JWKS fetches in 3 s: ${hits}`, out.slice(0, 200).replace(/\n/g, ' '));
p.kill('SIGKILL'); s.close(); process.exit(0);
