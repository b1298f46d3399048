// What the HTTP/2 scenarios start and check: the h2c / gRPC upstream process, Portcullis with its
// HTTP/2 listener (h2c) in front of an h2c upstream, and an h2c probe that checks a target answers
// (and refuses bad tokens) before it is loaded.
import { existsSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { BASELINE_ENV, baselineCli } from './build-compare.bench.js';
import { compiledRoot } from './paths.js';
import { jsonLine, startProcess } from './processes.js';
import { startPortcullis, type RunningTarget } from './targets.js';
import { ADMIN_TOKEN_ENV, BENCH_AUDIENCE, BENCH_SCOPE, type RefusalProbe } from './token-targets.js';

/** Start `node dist/bench/h2-upstream.js [--grpc]` pinned to `cpus`; resolves with its port. */
export async function startH2UpstreamProcess(kind: 'h2c' | 'grpc', cpus?: readonly number[]): Promise<RunningTarget> {
  const script = join(compiledRoot(), 'bench', 'h2-upstream.js');
  if (!existsSync(script)) throw new Error(`compiled h2 upstream missing at ${script}: run "npm run build"`);
  const { process: proc, ready } = await startProcess({
    name: `${kind}-upstream`, command: process.execPath, args: [script, ...(kind === 'grpc' ? ['--grpc'] : [])],
    ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'),
    ...(cpus !== undefined ? { cpus } : {}),
  });
  return { url: `http://127.0.0.1:${ready.port}`, port: ready.port, process: proc, stop: () => proc.stop() };
}

/** Start `node dist/bench/h2-bare-proxy.js --upstream PORT` (the node:http2 floor) pinned to `cpus`. */
export async function startBareH2ProxyProcess(upstreamPort: number, cpus?: readonly number[], env?: Record<string, string>): Promise<RunningTarget> {
  const script = join(compiledRoot(), 'bench', 'h2-bare-proxy.js');
  if (!existsSync(script)) throw new Error(`compiled bare h2 proxy missing at ${script}: run "npm run build"`);
  const { process: proc, ready } = await startProcess({
    name: 'h2-bare-proxy', command: process.execPath, args: [script, '--upstream', String(upstreamPort)],
    ready: jsonLine<{ port: number }>((o) => typeof o.port === 'number'),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(env !== undefined ? { env } : {}),
  });
  return { url: `http://127.0.0.1:${ready.port}`, port: ready.port, process: proc, stop: () => proc.stop() };
}

/**
 * The HTTP/2 token config: the HTTP/1.1 listener (unused) and `server.http2` h2c, one issuer, the
 * upstream `app` over h2c, one route `/*` requiring scope orders:read (default identity headers),
 * one worker, access log off — the jwt-warm config with both hops on HTTP/2.
 */
export function h2TokenConfigYaml(o: { upstreamPort: number; issuer: string; algorithms: readonly string[] }): string {
  return `server:
  listen: { host: 127.0.0.1, port: 0 }
  workers: 1
  http2:
    listen: { host: 127.0.0.1, port: 0 }
admin:
  listen: { host: 127.0.0.1, port: 0 }
  token_env: ${ADMIN_TOKEN_ENV}
issuers:
  bench:
    issuer: ${JSON.stringify(o.issuer)}
    audiences: [${BENCH_AUDIENCE}]
    algorithms: [${o.algorithms.join(', ')}]
upstreams:
  app:
    targets: ["http://127.0.0.1:${o.upstreamPort}"]
    protocol: h2c
routes:
  - name: api
    match: { path: "/*" }
    upstream: app
    auth: { scopes: { all: [${BENCH_SCOPE}] } }
verifier: { pool_size: 1, cache_entries: 100000 }
log: { level: info, access: false }
`;
}

/** Portcullis from `yaml` (which has server.http2), `h2url` its h2c listener (from the "listening" line). */
export async function startPortcullisH2(yaml: string, cpus: readonly number[], env: Record<string, string>, cli?: string): Promise<RunningTarget & { adminPort: number; h2url: string }> {
  const pc = await startPortcullis(yaml, cpus, env, cli);
  const line = pc.process.output().split('\n').map((l) => jsonLine<{ http2Port?: number }>((o) => o.msg === 'listening')(l)).find((x) => x !== undefined);
  if (line?.http2Port === undefined) {
    await pc.stop();
    throw new Error(`Portcullis did not report an http2Port in its "listening" line:\n${pc.process.output().slice(-2000)}`);
  }
  return { ...pc, h2url: `http://127.0.0.1:${line.http2Port}` };
}

/**
 * The other build's CLI when $PORTCULLIS_BENCH_BASELINE names one (scenarios h2 and grpc then add a
 * `portcullis-before` target in the same rotated rounds: before/after in one session); null when unset.
 */
export function optionalBaselineCli(env: NodeJS.ProcessEnv = process.env): string | null {
  return env[BASELINE_ENV] === undefined || env[BASELINE_ENV] === '' ? null : baselineCli(env);
}

/** One h2c GET (prior knowledge) on a fresh session: status and body (first 4 KiB). Rejects after 5 s. */
export function h2Probe(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const s = http2.connect(u.origin);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`h2 probe ${url}: no answer within 5 s`)); }, 5_000);
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
    const req = s.request({ ':method': 'GET', ':path': u.pathname + u.search, ...headers });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (d: string) => { if (body.length < 4096) body += d; });
    req.on('end', () => { clearTimeout(timer); s.close(); resolve({ status, body }); });
    req.on('error', (err) => { clearTimeout(timer); s.destroy(); reject(err); });
  });
}

/** h2Probe until `200 hello` (keys still loading); throws with the last answer after `timeoutMs`. */
export async function waitUntilServingH2(name: string, url: string, headers: Record<string, string>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await h2Probe(url, headers);
      if (r.status === 200 && r.body === 'hello') return;
      last = `${r.status} ${JSON.stringify(r.body.slice(0, 200))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until) throw new Error(`${name} (${url}, h2c) did not answer 200 "hello" with a valid token within ${timeoutMs} ms; last: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** As refusalsMissed (token-targets.ts), over h2c: the probes the target did not refuse as expected. */
export async function h2RefusalsMissed(url: string, probes: readonly RefusalProbe[]): Promise<string[]> {
  const missed: string[] = [];
  for (const p of probes) {
    const r = await h2Probe(url, { authorization: `Bearer ${p.token}` });
    if (r.status !== p.status) missed.push(`${p.what}: ${r.status} (expected ${p.status})`);
  }
  return missed;
}
