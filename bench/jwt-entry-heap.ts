// Issue 13's per-entry view of the verified-token cache: what one cached JWT retains (heap bytes
// and objects by kind, from two heap snapshots K entries apart) and what one cache miss allocates
// (v8.GCProfiler over M misses into a full, churning cache), for this build and, with --baseline
// ROOT, another built checkout's JwtVerifier in a child process of its own (one heap each).
// Run: `node dist/bench/jwt-entry-heap.js [--baseline /work/wt/before] [--entries 4000] [--misses 20000]`.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { allocatedBytes } from './heap-alloc-preload.js';
import { cell, markdownTable } from './results.js';

/** What one build's verifier retains per cache entry and allocates per miss. */
export interface EntryHeapResult {
  root: string;
  entries: number;
  /** heapUsed after full GCs, difference per entry, bytes. */
  retainedBytesPerEntry: number;
  /** Heap-snapshot objects per entry (difference of counts / entries), by `type:name`, largest first. */
  objectsPerEntry: Array<{ kind: string; count: number; bytes: number }>;
  objectCountPerEntry: number;
  snapshotBytesPerEntry: number;
  misses: number;
  /** Main-thread heap bytes allocated per cache miss (steady state: a full cache evicting). */
  allocatedBytesPerMiss: number;
}

const ISSUER = 'https://auth.example.com/realms/portcullis';
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A token shaped like the bench auth server's and cache-memory's (unique sub and jti, shared scope/client/aud). */
function token(key: KeyObject, now: number, i: number): string {
  const header = b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' });
  const payload = b64({ iss: ISSUER, sub: `user-${i}`, aud: 'orders', client_id: `client-${i % 500}`, scope: 'orders:read orders:write profile', iat: now, exp: now + 3600, jti: randomUUID() });
  const input = `${header}.${payload}`;
  // flat, as a header value arrives (a template literal would be a cons string flattened on first use)
  return Buffer.from(`${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`).toString('latin1');
}

interface Verifier { verify(t: string, a: null): { ok: boolean } | Promise<{ ok: boolean }>; start(): void; whenReady(ms: number): Promise<boolean>; close(): Promise<void> }

/** Counts and self bytes of heap-snapshot nodes by `type:name` (objects also by size; strings, numbers, code folded to their type). */
function readSnapshot(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const f = s.snapshot.meta.node_fields;
  const width = f.length, iType = f.indexOf('type'), iName = f.indexOf('name'), iSize = f.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code' || type === 'hidden' ? type
      : type === 'object' ? `object:${s.strings[s.nodes[i + iName]!]!.slice(0, 40)}:${s.nodes[i + iSize]!} B` : `${type}:${s.strings[s.nodes[i + iName]!]!.slice(0, 40)}`;
    const e = out.get(name) ?? { count: 0, bytes: 0 };
    e.count++; e.bytes += s.nodes[i + iSize]!;
    out.set(name, e);
  }
  return out;
}

async function child(root: string, entries: number, misses: number): Promise<EntryHeapResult> {
  const base = pathToFileURL(join(root, 'dist', 'node') + '/').href;
  const { JwtVerifier } = (await import(new URL('jwt/index.js', base).href)) as { JwtVerifier: new (o: unknown) => Verifier };
  const { issuerSchema } = (await import(new URL('config/schema.js', base).href)) as { issuerSchema: { parse(x: unknown): unknown } };
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const fullGc = (): void => { for (let i = 0; i < 3; i++) gc(); };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
  const server = createServer((_q, r) => { r.writeHead(200, { 'content-type': 'application/json' }).end(jwks); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const mk = (cacheEntries: number): Verifier => new JwtVerifier({
    issuers: { bench: issuerSchema.parse({ issuer: ISSUER, jwks_uri: `http://127.0.0.1:${port}/jwks`, audiences: ['orders'], algorithms: ['EdDSA'] }) },
    poolSize: 1, mode: 'inline', cacheEntries, cacheBytes: 2 ** 31, cacheMaxTtlS: 3600, logger: pino({ level: 'silent' }),
  });
  const now = Math.floor(Date.now() / 1000);
  let next = 0;
  const batch = (n: number): string[] => Array.from({ length: n }, () => token(privateKey, now, next++));
  const run = async (v: Verifier, ts: string[]): Promise<void> => { for (const t of ts) { const o = await v.verify(t, null); if (!o.ok) throw new Error('verification failed'); } };

  // retained: a cache of 3K holding K, then 2K entries (the first K warms the interner and grows the slot arrays)
  const v = mk(3 * entries);
  v.start();
  if (!(await v.whenReady(10_000))) throw new Error('JWKS not loaded');
  await run(v, batch(entries));
  const ts = batch(entries);
  // both snapshots go to files and are read after the second: the reading itself is not in either
  const dir = mkdtempSync(join(tmpdir(), 'jwt-entry-heap-'));
  fullGc();
  const fileA = v8.writeHeapSnapshot(join(dir, 'a.heapsnapshot'));
  fullGc();
  const usedA = process.memoryUsage().heapUsed;
  await run(v, ts); // ts stays alive through both snapshots: only what the cache holds differs
  fullGc();
  const usedB = process.memoryUsage().heapUsed;
  const fileB = v8.writeHeapSnapshot(join(dir, 'b.heapsnapshot'));
  const a = readSnapshot(fileA), b = readSnapshot(fileB);
  rmSync(dir, { recursive: true, force: true });
  const rows: EntryHeapResult['objectsPerEntry'] = [];
  for (const [kind, nb] of b) {
    const na = a.get(kind) ?? { count: 0, bytes: 0 };
    const count = (nb.count - na.count) / entries, bytes = (nb.bytes - na.bytes) / entries;
    if (Math.abs(count) >= 0.05 || Math.abs(bytes) >= 4) rows.push({ kind, count, bytes });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  if (ts.length !== entries) throw new Error('unreachable');
  await v.close();

  // allocated per miss: a cache of K churning (every insert evicts), M fresh tokens made beforehand
  const w = mk(entries);
  w.start();
  if (!(await w.whenReady(10_000))) throw new Error('JWKS not loaded');
  await run(w, batch(2 * entries));
  const tm = batch(misses);
  fullGc();
  type Stat = Parameters<typeof allocatedBytes>[1][number];
  const Prof = (v8 as unknown as { GCProfiler: new () => { start(): void; stop(): { statistics: Stat[] } } }).GCProfiler;
  const p = new Prof();
  const start = v8.getHeapStatistics().used_heap_size;
  p.start();
  await run(w, tm);
  const stats = p.stop().statistics;
  const alloc = allocatedBytes(start, stats, v8.getHeapStatistics().used_heap_size);
  await w.close();
  server.close();
  return {
    root, entries, retainedBytesPerEntry: (usedB - usedA) / entries, objectsPerEntry: rows,
    objectCountPerEntry: rows.reduce((s, r) => s + r.count, 0), snapshotBytesPerEntry: rows.reduce((s, r) => s + r.bytes, 0),
    misses, allocatedBytesPerMiss: alloc / misses,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { child: { type: 'string' }, baseline: { type: 'string' }, entries: { type: 'string', default: '4000' }, misses: { type: 'string', default: '20000' } } });
  const entries = Number(values.entries), misses = Number(values.misses);
  if (values.child !== undefined) {
    process.stdout.write(JSON.stringify(await child(values.child, entries, misses)) + '\n');
  } else {
    const here = join(new URL('../..', import.meta.url).pathname);
    const roots: Array<[string, string]> = [['this', here]];
    if (values.baseline !== undefined) roots.push(['baseline', values.baseline]);
    const results: Array<[string, EntryHeapResult]> = roots.map(([name, root]) => [name, JSON.parse(execFileSync(process.execPath, [process.argv[1], '--child', root, '--entries', String(entries), '--misses', String(misses)], { encoding: 'utf8', maxBuffer: 64 << 20 })) as EntryHeapResult]);
    process.stdout.write(markdownTable(['build', 'retained B/entry (heapUsed)', 'objects/entry (snapshot)', 'self B/entry (snapshot)', 'allocated B/miss'],
      results.map(([n, r]) => [n, cell(r.retainedBytesPerEntry, 0), cell(r.objectCountPerEntry, 2), cell(r.snapshotBytesPerEntry, 0), cell(r.allocatedBytesPerMiss, 0)]), [false, true, true, true, true]) + '\n');
    for (const [n, r] of results) {
      process.stdout.write(`\n${n}: objects per entry by kind\n` + markdownTable(['kind', 'count/entry', 'bytes/entry'], r.objectsPerEntry.map((x) => [x.kind, cell(x.count, 2), cell(x.bytes, 0)]), [false, true, true]) + '\n');
    }
  }
}
