// The client host of the multi-host harness: a process inside the client namespace that the
// harness drives over stdin/stdout (one JSON command per line, one JSON answer per line), so
// every request, revocation and measurement starts from the client host, as a user's would.
// Timestamps are process.hrtime (CLOCK_MONOTONIC, the same clock in every process here).
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

/** One HTTP exchange's outcome: a status, or the error code of a request that got no answer. */
export interface Outcome { status: number; body: string; error: string | null; reused: boolean; ms: number }

const agents = new Map<string, Agent>();
function agentFor(origin: string): Agent {
  let a = agents.get(origin);
  if (a === undefined) { a = new Agent({ keepAlive: true, maxSockets: 64, timeout: 5_000 }); agents.set(origin, a); }
  return a;
}

/** One request with a deadline; never rejects. */
export function send(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number; maxBody?: number } = {}): Promise<Outcome> {
  const maxBody = opts.maxBody ?? 4096; // enough for any error answer; mint answers ask for more
  const u = new URL(url);
  const start = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let reused = false;
    const finish = (o: Omit<Outcome, 'ms' | 'reused'>): void => { if (!done) { done = true; resolve({ ...o, reused, ms: performance.now() - start }); } };
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: opts.headers, agent: agentFor(u.origin) }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { if (body.length < maxBody) body += c; });
      res.on('end', () => finish({ status: res.statusCode ?? 0, body, error: null }));
      res.on('error', (e: NodeJS.ErrnoException) => finish({ status: 0, body, error: e.code ?? e.message }));
    });
    req.on('socket', (s) => { reused = (req as unknown as { reusedSocket: boolean }).reusedSocket; void s; });
    req.setTimeout(opts.timeoutMs ?? 2_000, () => { req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })); });
    req.on('error', (e: NodeJS.ErrnoException) => finish({ status: 0, body: '', error: e.code ?? e.message }));
    req.end(opts.body);
  });
}

const now = (): string => process.hrtime.bigint().toString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errorCode = (o: Outcome): string | null => { try { return (JSON.parse(o.body) as { code?: string }).code ?? null; } catch { return null; } };
/** The error answer's code and message ("PORTCULLIS_ERR_X (why)"): which stage refused, in a failure report. */
const errorWhy = (o: Outcome): string => { try { const b = JSON.parse(o.body) as { code?: string; message?: string }; return b.message === undefined ? b.code ?? '' : `${b.code ?? ''} (${b.message})`; } catch { return ''; } };

/**
 * Answers that say "not processed, try another instance", as an Envoy retry policy with
 * connect-failure, reset and retriable 503s would: never reached a proxy, or a 503 with one of
 * the proxy's codes that guarantee nothing was forwarded (draining; auth state not current).
 */
function retriable(o: Outcome): boolean {
  if (o.error !== null) return o.error === 'ECONNREFUSED' || o.error === 'EHOSTUNREACH' || o.error === 'ECONNRESET' || o.error === 'EPIPE' || o.error === 'TIMEOUT' && !o.reused;
  if (o.status !== 503) return false;
  const code = errorCode(o);
  return code === 'PORTCULLIS_ERR_SHUTTING_DOWN' || code === 'PORTCULLIS_ERR_AUTH_UNAVAILABLE';
}
/** A refusal by a live instance (as opposed to an address that does not answer): no need to take it out of rotation. */
const refusedByLive = (o: Outcome): boolean => o.error === null && errorCode(o) === 'PORTCULLIS_ERR_AUTH_UNAVAILABLE';

interface LoadSpec {
  urls: string[]; tokens: string[]; rps: number; maxAttempts?: number; timeoutMs?: number;
  /** Per address (same order as urls), a readiness URL: an address taken out after a refusal comes back only once it answers 200 there (an active health check, as Envoy's or HAProxy's). */
  health?: string[];
}
interface LoadReport {
  sent: number; ok: number; failed: number; retried: number; overload: number;
  byHost: Record<string, { ok: number; failed: number; retriedAway: number }>;
  failures: Record<string, number>; retries: Record<string, number>;
  /** Every refused attempt (retried or final), oldest first, at most REFUSALS_KEPT: [ms since the load started, host, why]. */
  refusals: Array<[number, string, string]>;
  latency: { p50: number; p99: number; max: number };
}

/** How many refused attempts a load report lists one by one (a timeline beside the restarts). */
const REFUSALS_KEPT = 400;

/** Paced load through a client-side pool that knows every address: round-robin, skips an address for 500 ms after a refusal, retries there-and-elsewhere up to maxAttempts. */
class Load {
  private stopped = false;
  private inflight = 0;
  private rr = 0;
  private readonly downUntil = new Map<string, number>();
  private readonly lat: number[] = [];
  readonly report: LoadReport;
  private loop: Promise<void>;

  constructor(private readonly spec: LoadSpec) {
    this.report = { sent: 0, ok: 0, failed: 0, retried: 0, overload: 0, byHost: {}, failures: {}, retries: {}, refusals: [], latency: { p50: 0, p99: 0, max: 0 } };
    for (const u of spec.urls) this.report.byHost[new URL(u).host] = { ok: 0, failed: 0, retriedAway: 0 };
    this.loop = this.run();
  }

  private readonly out = new Set<string>();
  private readonly t0 = performance.now();

  private refused(host: string, o: Outcome): void {
    if (this.report.refusals.length < REFUSALS_KEPT) this.report.refusals.push([Math.round(performance.now() - this.t0), host, o.error ?? `${o.status} ${errorWhy(o)}`.trim()]);
  }

  private pick(): string {
    const t = performance.now();
    for (let i = 0; i < this.spec.urls.length; i++) {
      const u = this.spec.urls[this.rr++ % this.spec.urls.length]!;
      if (!this.out.has(u) && (this.downUntil.get(u) ?? 0) <= t) return u;
    }
    return this.spec.urls[this.rr++ % this.spec.urls.length]!;
  }

  /** Take an address out of rotation until its health URL says 200 (polled every 250 ms). */
  private takeOut(url: string): void {
    const i = this.spec.urls.indexOf(url);
    const health = this.spec.health?.[i];
    if (health === undefined || this.out.has(url)) return;
    this.out.add(url);
    void (async () => {
      while (!this.stopped) {
        await sleep(250);
        if ((await send(health, { timeoutMs: 1_000 })).status === 200) break;
      }
      this.out.delete(url);
    })();
  }

  private async one(n: number): Promise<void> {
    const token = this.spec.tokens[n % this.spec.tokens.length]!;
    const start = performance.now();
    let last: Outcome | null = null;
    let host = '';
    for (let attempt = 0; attempt < (this.spec.maxAttempts ?? 3); attempt++) {
      const url = this.pick();
      host = new URL(url).host;
      last = await send(url, { headers: { authorization: `Bearer ${token}` }, timeoutMs: this.spec.timeoutMs ?? 5_000 });
      if (!retriable(last)) break;
      this.refused(host, last);
      if (!refusedByLive(last)) {
        this.downUntil.set(url, performance.now() + 500);
        this.takeOut(url);
      }
      const why = `${host} ${last.error ?? `${last.status} ${errorWhy(last)}`.trim()}`;
      this.report.retries[why] = (this.report.retries[why] ?? 0) + 1;
      this.report.byHost[host]!.retriedAway++;
      this.report.retried++;
    }
    this.lat.push(performance.now() - start);
    const h = this.report.byHost[host]!;
    if (last !== null && last.status === 200) { this.report.ok++; h.ok++; return; }
    this.report.failed++;
    h.failed++;
    if (last !== null && !retriable(last)) this.refused(host, last);
    const why = last === null ? 'none' : last.error ?? `${last.status} ${errorWhy(last)}`.trim();
    this.report.failures[`${host} ${why}`] = (this.report.failures[`${host} ${why}`] ?? 0) + 1;
  }

  private async run(): Promise<void> {
    const perTick = this.spec.rps / 100; // 10 ms ticks
    let owed = 0;
    let n = 0;
    while (!this.stopped) {
      owed += perTick;
      while (owed >= 1) {
        owed--;
        if (this.inflight >= 256) { this.report.overload++; continue; }
        this.inflight++;
        this.report.sent++;
        void this.one(n++).finally(() => { this.inflight--; });
      }
      await sleep(10);
    }
    while (this.inflight > 0) await sleep(10);
  }

  async stop(): Promise<LoadReport> {
    this.stopped = true;
    await this.loop;
    const s = [...this.lat].sort((a, b) => a - b);
    const q = (p: number): number => s.length === 0 ? 0 : Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 100) / 100;
    this.report.latency = { p50: q(0.5), p99: q(0.99), max: Math.round((s[s.length - 1] ?? 0) * 100) / 100 };
    return this.report;
  }
}

type Command =
  | { cmd: 'get'; url: string; headers?: Record<string, string>; timeoutMs?: number }
  | { cmd: 'post'; url: string; headers?: Record<string, string>; body: string }
  | { cmd: 'mint'; control: string; kind: 'jwt' | 'opaque'; count: number; claims?: Record<string, unknown> }
  | { cmd: 'waitStatus'; url: string; token?: string; headers?: Record<string, string>; status: number; timeoutMs: number }
  | { cmd: 'statuses'; urls: string[]; tokens: string[] }
  | { cmd: 'fanout'; urls: string[]; tokens: string[] }
  | { cmd: 'propagate'; admin: string; adminToken: string; jti: string; token: string; watch: string[]; timeoutMs: number }
  /** `until`: the status every token must get in one round to end (default 401: revoked); `all401` is when that happened. */
  | { cmd: 'sweep'; url: string; tokens: string[]; timeoutMs: number; until?: number }
  | { cmd: 'loadStart'; spec: LoadSpec }
  | { cmd: 'loadStop' }
  | { cmd: 'natsHello'; host: string; port: number; user?: string; pass?: string; timeoutMs?: number }
  | { cmd: 'now' };

/**
 * A bare NATS client handshake (INFO, CONNECT with the given credentials, PING): whether the
 * server demands authentication, and its answer — `PONG` when it let the client in, else its
 * `-ERR` line (or the socket error). Proves what an outsider without credentials gets.
 */
function natsHello(c: Extract<Command, { cmd: 'natsHello' }>): Promise<{ authRequired: boolean | null; answer: string }> {
  return new Promise((resolve) => {
    let buf = '';
    let info: { auth_required?: boolean } | null = null;
    let settled = false;
    const sock = tcpConnect({ host: c.host, port: c.port });
    const done = (answer: string): void => { if (!settled) { settled = true; sock.destroy(); resolve({ authRequired: info === null ? null : info.auth_required === true, answer }); } };
    sock.setTimeout(c.timeoutMs ?? 3_000, () => done('timeout'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    sock.on('close', () => done('closed'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (line.startsWith('INFO ')) {
          info = JSON.parse(line.slice(5)) as { auth_required?: boolean };
          const creds = c.user !== undefined ? { user: c.user, pass: c.pass ?? '' } : {};
          sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, protocol: 1, name: 'hosts-probe', ...creds })}\r\nPING\r\n`);
        } else if (line === 'PONG' || line.startsWith('-ERR')) {
          done(line);
        }
      }
    });
  });
}

let load: Load | null = null;

/** Map over `items` with at most `n` in flight, results in order (a burst larger than the pool only queues and times out). */
async function inBatches<T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await f(items[i]!); }
  }));
  return out;
}

async function probeUntil401(url: string, token: string, deadline: number): Promise<string | null> {
  while (performance.now() < deadline) {
    const o = await send(url, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 1_000 });
    if (o.status === 401) return now();
    if (o.status !== 200 && o.status !== 503) await sleep(5);
  }
  return null;
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'now': return now();
    case 'get': return send(c.url, { ...(c.headers !== undefined ? { headers: c.headers } : {}), timeoutMs: c.timeoutMs ?? 2_000, maxBody: 2 ** 20 });
    case 'post': return send(c.url, { method: 'POST', headers: { 'content-type': 'application/json', ...c.headers }, body: c.body });
    case 'mint': {
      const o = await send(`${c.control}/mint`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: c.kind, alg: 'ES256', count: c.count, ...(c.claims !== undefined ? { claims: c.claims } : {}) }), timeoutMs: 60_000, maxBody: 64 * 2 ** 20 });
      if (o.status !== 200) throw new Error(`mint: ${o.status} ${o.error ?? o.body}`);
      return (JSON.parse(o.body) as { tokens: string[] }).tokens;
    }
    case 'waitStatus': {
      const deadline = performance.now() + c.timeoutMs;
      let last: Outcome | null = null;
      while (performance.now() < deadline) {
        last = await send(c.url, { headers: { ...(c.token !== undefined ? { authorization: `Bearer ${c.token}` } : {}), ...c.headers }, timeoutMs: 1_000 });
        if (last.status === c.status) return { ok: true, at: now() };
        await sleep(50);
      }
      return { ok: false, last: last === null ? null : { status: last.status, error: last.error, body: last.body.slice(0, 300) } };
    }
    case 'statuses': {
      const out: Record<string, number[]> = {};
      for (const u of c.urls) out[u] = await inBatches(c.tokens, 16, async (t) => (await send(u, { headers: { authorization: `Bearer ${t}` }, timeoutMs: 10_000 })).status);
      return out;
    }
    case 'fanout': {
      // every token to every address at the same moment: statuses[token][url]
      return inBatches(c.tokens, 16, (t) => Promise.all(c.urls.map(async (u) => (await send(u, { headers: { authorization: `Bearer ${t}` }, timeoutMs: 10_000 })).status)));
    }
    case 'propagate': {
      // the watchers probe back to back from before the POST; the clock starts when the POST is sent
      const deadline = performance.now() + c.timeoutMs;
      const t0 = now();
      const watchers = c.watch.map((u) => probeUntil401(u, c.token, deadline));
      const post = await send(`${c.admin}/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` }, body: JSON.stringify({ kind: 'jti', value: c.jti }) });
      if (post.status !== 200 && post.status !== 201 && post.status !== 202) throw new Error(`POST /revocations: ${post.status} ${post.error ?? post.body}`);
      const seen = await Promise.all(watchers);
      return { t0, seen };
    }
    case 'sweep': {
      // Every answer for every token, in rounds, until one whole round is `until` (401; or the deadline).
      const until = c.until ?? 401;
      const deadline = performance.now() + c.timeoutMs;
      const counts: Record<string, number> = {};
      let firstAnswer: string | null = null;
      let all401: string | null = null;
      let served = 0;
      while (performance.now() < deadline && all401 === null) {
        const round = await Promise.all(c.tokens.map((t) => send(c.url, { headers: { authorization: `Bearer ${t}` }, timeoutMs: 300 })));
        let n401 = 0;
        for (const o of round) {
          const k = o.error ?? String(o.status);
          counts[k] = (counts[k] ?? 0) + 1;
          if (o.error === null && firstAnswer === null) firstAnswer = now();
          if (o.status === 200) served++;
          if (o.status === until) n401++;
        }
        if (n401 === c.tokens.length) all401 = now();
        else if (round.every((o) => o.error !== null)) await sleep(20);
      }
      return { counts, served, firstAnswer, all401 };
    }
    case 'loadStart': { if (load !== null) throw new Error('load already running'); load = new Load(c.spec); return true; }
    case 'loadStop': { if (load === null) throw new Error('no load running'); const r = await load.stop(); load = null; return r; }
    case 'natsHello': return natsHello(c);
    default: { const never: never = c; throw new Error(`unknown command ${JSON.stringify(never)}`); }
  }
}

function main(): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg: { id: number } & Command;
    try { msg = JSON.parse(line) as typeof msg; } catch { return; }
    handle(msg).then(
      (result) => process.stdout.write(JSON.stringify({ id: msg.id, ok: true, result }) + '\n'),
      (err: unknown) => process.stdout.write(JSON.stringify({ id: msg.id, ok: false, error: (err as Error).message }) + '\n'),
    );
  });
  rl.on('close', () => process.exit(0));
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
