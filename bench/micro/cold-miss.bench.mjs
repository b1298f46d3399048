// Micro-measure (not a test): the all-miss JWT path per build — extract's b64token memo and JwtVerifier.verify
// (`verifier.mode: inline`, what `portcullis-workers-2` runs) on distinct RS256 tokens — minus the bare node:crypto
// verify of the same tokens: the non-crypto cost of a cache miss, its heap and scavenge-kept bytes.
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';

// Run (build first): `node bench/micro/cold-miss.bench.mjs BASE_ROOT [ROOT]`; env N misses per pass, TOKENS distinct
// (> the cache's 1024), ROUNDS. Each build in its own child (own JIT; 16 MB semi-spaces fixed, as the deploy units run
// workers, so scavenges compare), builds alternating. COLD_MISS_CHILD=1 COLD_MISS_PROF=1 runs one child without the
// crypto pass, for --cpu-prof of the miss path alone. COLD_MISS_CLOCK=cpu times blocks by process CPU, not wall time.
const N = Number(process.env.N ?? 40_000);
const TOKENS = Number(process.env.TOKENS ?? 4000);
const ISS = 'http://127.0.0.1:9/issuer';
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function child(root) {
  const dist = (p) => pathToFileURL(`${root}/dist/${p}`).href;
  const { JwtVerifier } = await import(dist('node/jwt/index.js'));
  const { issuerSchema } = await import(dist('node/config/schema.js'));
  const pino = (await import('pino')).default;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  const srv = createServer((_q, r) => r.end(JSON.stringify({ keys: [jwk] })));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' });
  const tokens = Array.from({ length: TOKENS }, () => {
    const input = `${head}.${b64({ iss: ISS, sub: 'alice', aud: 'portcullis-demo', scope: 'orders:read', client_id: 'demo-client', iat, exp: iat + 3600, jti: randomUUID() })}`;
    return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  });
  // fresh flat strings per request, as uWS hands them over
  const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
  // what fresh() itself allocates per call (the Buffer object and the header string), taken off the miss's bytes
  const freshBytes = tokens[0].length + 7 + 16 + 96;
  const cfg = issuerSchema.parse({ issuer: ISS, jwks_uri: `http://127.0.0.1:${srv.address().port}/jwks`, audiences: ['portcullis-demo'], algorithms: ['RS256'] });
  const v = new JwtVerifier({ issuers: { bench: cfg }, poolSize: 1, cacheEntries: 1024, cacheBytes: 1 << 24, logger: pino({ level: 'silent' }), mode: 'inline' });
  v.start();
  if (!(await v.whenReady(10_000))) throw new Error('keys did not load');
  srv.close();
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  let sink = 0;
  // extract's b64token check with its memo, on the token cut from its header string as uWS hands it over
  const { b64token } = await import(dist('node/pipeline/b64token-memo.js'));
  const miss = (i) => {
    const header = fresh(`Bearer ${tokens[i % TOKENS]}`);
    const r = v.verify(b64token(header.slice(7), header.length), null);
    if (r instanceof Promise || !r.ok) throw new Error(`not a synchronous success: ${JSON.stringify(r)}`);
    sink += r.exp;
  };
  const bare = (i) => {
    const t = tokens[i % TOKENS];
    const d = t.lastIndexOf('.');
    if (!verify('sha256', Buffer.from(t.slice(0, d), 'latin1'), key, Buffer.from(t.slice(d + 1), 'base64url'))) throw new Error('bad');
  };
  const cpu = (one, n) => { const c0 = process.cpuUsage(); for (let i = 0; i < n; i++) one(i); const c = process.cpuUsage(c0); return (c.user + c.system) / n; };
  for (let i = 0; i < 8000; i++) miss(i);
  if (process.env.COLD_MISS_PROF === '1') { cpu(miss, N); await v.close(); return; }
  for (let i = 0; i < 4000; i++) bare(i);
  // blocks of misses and bare verifies in turn, each block's own difference: a slower CPU moment
  // (a neighbour, frequency) lands on both halves of a block and cancels out of its difference
  const BLOCK = 500; // wall time per block (one thread, nothing else runs): the median drops blocks a neighbour preempted
  // COLD_MISS_CLOCK=cpu: the process's CPU time instead (a loaded host preempts most blocks: wall time then counts the neighbours)
  const clock = process.env.COLD_MISS_CLOCK === 'cpu' ? () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; } : () => performance.now();
  const miss1 = [], bare1 = [];
  let at = 0;
  for (let b = 0; b < N / BLOCK; b++) {
    const c0 = clock(); for (let i = 0; i < BLOCK; i++) miss(at + i);
    const c1 = clock(); for (let i = 0; i < BLOCK; i++) bare(at + i);
    const c2 = clock();
    at += BLOCK;
    miss1.push(((c1 - c0) * 1000) / BLOCK);
    bare1.push(((c2 - c1) * 1000) / BLOCK);
  }
  // heap bytes a miss allocates (v8.GCProfiler: used heap before each GC − after the previous one)
  const gcp = new v8.GCProfiler();
  const used0 = v8.getHeapStatistics().used_heap_size;
  gcp.start();
  for (let i = 0; i < N; i++) miss(i);
  const used1 = v8.getHeapStatistics().used_heap_size;
  let bytes = 0, prev = used0, kept = 0, promoted = 0, scavenges = 0;
  const space = (g, name) => g.heapSpaceStatistics.find((x) => x.spaceName === name)?.spaceUsedSize ?? 0;
  for (const g of gcp.stop().statistics) {
    bytes += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - prev);
    prev = g.afterGC.heapStatistics.usedHeapSize;
    if (g.gcType !== 'Scavenge') continue;
    // what a scavenge kept: the young survivors plus what it moved to old space
    scavenges++;
    const up = Math.max(0, space(g.afterGC, 'old_space') - space(g.beforeGC, 'old_space'));
    promoted += up;
    kept += space(g.afterGC, 'new_space') + up;
  }
  const heapPerMiss = (bytes + Math.max(0, used1 - prev)) / N - freshBytes;
  await v.close();
  const nonCrypto = median(miss1.map((m, i) => m - bare1[i]));
  process.stdout.write(JSON.stringify({ missUs: median(miss1), cryptoUs: median(bare1), nonCryptoUs: nonCrypto, heapPerMiss, keptPerMiss: kept / N, promotedPerMiss: promoted / N, scavenges, sink }));
}

if (process.env.COLD_MISS_CHILD === '1') {
  await child(process.argv[2]);
} else {
  const { execFileSync } = await import('node:child_process');
  const base = process.argv[2];
  const here = process.argv[3] ?? fileURLToPath(new URL('../..', import.meta.url));
  if (base === undefined) throw new Error('usage: node bench/micro/cold-miss.bench.mjs BASE_ROOT [ROOT]');
  const rounds = Number(process.env.ROUNDS ?? 6);
  const run = (root) => JSON.parse(execFileSync(process.execPath, ['--min-semi-space-size=16', '--max-semi-space-size=16', fileURLToPath(import.meta.url), root], { env: { ...process.env, COLD_MISS_CHILD: '1' } }).toString());
  const rows = [];
  for (let r = 0; r < rounds; r++) {
    const pair = r % 2 === 0 ? [run(base), run(here)] : [run(here), run(base)].reverse();
    rows.push(pair);
  }
  console.log('| round | base miss µs | base − crypto | this miss µs | this − crypto | saved (non-crypto) µs |\n|---|---:|---:|---:|---:|---:|');
  rows.forEach(([a, b], i) => console.log(`| ${i + 1} | ${a.missUs.toFixed(2)} | ${a.nonCryptoUs.toFixed(2)} | ${b.missUs.toFixed(2)} | ${b.nonCryptoUs.toFixed(2)} | ${(a.nonCryptoUs - b.nonCryptoUs).toFixed(2)} |`));
  const nc = (x) => x.nonCryptoUs;
  console.log(`median non-crypto per miss: base ${median(rows.map(([a]) => nc(a))).toFixed(2)} µs, this ${median(rows.map(([, b]) => nc(b))).toFixed(2)} µs; median saved ${median(rows.map(([a, b]) => a.nonCryptoUs - b.nonCryptoUs)).toFixed(2)} µs of non-crypto; heap B/miss base ${median(rows.map(([a]) => a.heapPerMiss)).toFixed(0)}, this ${median(rows.map(([, b]) => b.heapPerMiss)).toFixed(0)}; scavenge-kept · promoted B/miss base ${median(rows.map(([a]) => a.keptPerMiss)).toFixed(0)} · ${median(rows.map(([a]) => a.promotedPerMiss)).toFixed(0)}, this ${median(rows.map(([, b]) => b.keptPerMiss)).toFixed(0)} · ${median(rows.map(([, b]) => b.promotedPerMiss)).toFixed(0)} (crypto floor ${median(rows.flatMap(([a, b]) => [a.cryptoUs, b.cryptoUs])).toFixed(2)} µs; N=${N}, ${TOKENS} distinct tokens, cache 1024; base ${base}, this ${here})`);
}
