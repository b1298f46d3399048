// `portcullis cluster-demo` (npm run cluster): a local nats-server with JetStream, the
// demo authorization server, an echo upstream and three proxy instances on three ports.
// Shows one token allowed everywhere, a revocation at instance 1, and the token refused
// at instances 2 and 3 with the measured delay. Stays up for curl until Ctrl-C
// (`--exit` stops after the demonstration).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine } from './command-line.js';
import { formatProblems, validateConfig } from '../../node/config/index.js';
import { startAuthServer } from './demo/auth-server.js';
import { SIGNAL_EXIT, watchStopSignals } from './stop-signals.js';
import { startEchoUpstream } from './demo/echo-upstream.js';
import { ProxyInstance } from '../../node/instance.js';
import { createLogger } from '../../node/log.js';
import { freePort, runStopSteps, startMember, type MemberWiring, type StopStep } from '../process/index.js';

const NATS_CANDIDATES = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

function natsBinary(): string {
  for (const c of NATS_CANDIDATES) if (c !== undefined && c !== '' && existsSync(c)) return c;
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server` (or set NATS_SERVER_BIN)');
}

function waitPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** The demo's own calls (its proxies, its admin API): bounded, so a stuck listener ends the demo with an error instead of hanging it. */
const CALL_MS = 10_000;
/** How long the three members may take to replay revocations from the demo's nats-server and load their keys (a 10 s wait of its own): 30 s. */
const READY_MS = 30_000;

/**
 * `p`, unless nats-server exits first (`exited`: how it ended) or `ms` pass: then an error naming
 * `what` and why. Without it a nats-server that died (or never answered) left the members waiting
 * for their first replay for ever, and the demo with them, printing nothing.
 */
function natsBound<T>(p: Promise<T>, exited: Promise<string>, what: string, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms); });
  const died = exited.then((how) => { throw new Error(`${what}: nats-server ${how}`); });
  return Promise.race([p, late, died]).finally(() => clearTimeout(t));
}

async function bounded(url: string, init: RequestInit): Promise<number> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_MS) });
    await r.arrayBuffer();
    return r.status;
  } catch (err) {
    const why = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${CALL_MS / 1000} s` : (err as Error).message;
    throw new Error(`${new URL(url).origin}: ${why}`);
  }
}

function status(url: string, token: string): Promise<number> {
  return bounded(url, { headers: { authorization: `Bearer ${token}` } });
}

/** A part of the stop still running this long is named on stderr, and again every further 10 s: 10 s. */
const SLOW_STOP_MS = 10_000;

export async function clusterDemo(argv: string[], usage: string): Promise<void> {
  const { values } = parseCommandLine('cluster-demo', { args: argv, options: { exit: { type: 'boolean' }, help: { type: 'boolean' } } }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  const bin = natsBinary();
  const store = mkdtempSync(join(tmpdir(), 'portcullis-demo-nats-'));
  const natsPort = await freePort('127.0.0.1');
  let nats: ChildProcess | null = null;
  // nats-server may still write a file between its SIGKILL and the removal (ENOTEMPTY): rmSync retries
  // those; one it still cannot remove is said, never thrown from a signal listener (a wrong exit code)
  const stopNats = (): void => {
    nats?.kill('SIGKILL');
    try { rmSync(store, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }); } catch (err) { process.stderr.write(`could not remove nats-server's store ${store}: ${(err as Error).message}\n`); }
  };
  // stopped last-started first; each part still running after SLOW_STOP_MS is named on stderr, one
  // that fails is reported and the rest still stop (before, a rejection ended the stop unreported)
  const started: StopStep[] = [{ name: 'nats-server', run: stopNats }];
  const stopAll = async (): Promise<boolean> => {
    const report = (line: string): void => { process.stderr.write(`${line}\n`); };
    const run = runStopSteps([...started].reverse(), { slowMs: SLOW_STOP_MS, report, hint: '; Ctrl-C again stops at once' });
    return (await run.done).failed.length === 0;
  };
  // A signal before the demonstration is up: the servers in this process end with it, nats-server
  // (a child) would not — a SIGTERM here left it running with its store in the temp directory.
  // Installed before the spawn: nats-server is visible (and the CLI signalled) as soon as it has
  // exec'd, which on a loaded host came before the line after spawn() ran — the default action then
  // ended the CLI and orphaned nats-server (a clean-clone CI run of cluster-demo-signal).
  // What stops the demo: Ctrl-C, a stop, the terminal closing (nats-server, in its own group, hears
  // none of them). One listener per signal for the whole run (stop-signals.ts): at once until the
  // demo is up, then the graceful stop, then at once again.
  let stopping = false;
  const signals = watchStopSignals((sig) => {
    if (stopping) process.stderr.write(`${sig} again: stopping at once\n`);
    stopNats();
    process.exit(SIGNAL_EXIT[sig]);
  });
  // Its own process group: a terminal's Ctrl-C reaches the whole foreground group, and nats-server
  // ended at once, under the instances, whose last lines were "NATS connection lost; reconnecting".
  // The CLI alone is signalled now and stops the instances first; it still takes nats-server along
  // however it exits (the 'exit' hook below, SIGHUP when the terminal closes).
  nats = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', store], { stdio: 'ignore', detached: true });
  process.once('exit', () => { nats?.kill('SIGKILL'); });
  const child = nats;
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal === null ? `exited with code ${code}` : `was killed (${signal})`)));
  try {
    await natsBound(waitPort(natsPort, 10_000), exited, `cannot start ${bin}`, CALL_MS + 1_000);
    const as = await startAuthServer();
    started.push({ name: 'the authorization server', run: () => as.close() });
    const echo = await startEchoUpstream({ name: 'echo' });
    started.push({ name: 'the echo upstream', run: () => echo.close() });
    const adminToken = randomBytes(12).toString('base64url');
    process.env.PORTCULLIS_DEMO_ADMIN_TOKEN = adminToken;
    process.env.PORTCULLIS_DEV_INTROSPECTION_SECRET = 'portcullis-secret';
    // the demo's own bus key: every instance here shares it, nothing else can publish state
    process.env.PORTCULLIS_DEMO_BUS_KEY = randomBytes(48).toString('base64');
    const logger = createLogger({ level: 'warn', format: 'pretty' });
    const instances: Array<{ inst: ProxyInstance; member: MemberWiring }> = [];
    for (let i = 1; i <= 3; i++) {
      const v = validateConfig({
        server: { listen: { host: '127.0.0.1', port: 0 } },
        admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_DEMO_ADMIN_TOKEN' },
        issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'], algorithms: ['RS256', 'ES256'], introspection: { client_id: 'portcullis', client_secret_env: 'PORTCULLIS_DEV_INTROSPECTION_SECRET' } } },
        upstreams: { echo: { targets: [echo.url] } },
        routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'echo', auth: { scopes: { all: ['orders:read'] } } }],
        cluster: { nats: { servers: [`nats://127.0.0.1:${natsPort}`] }, member_id: `proxy-${i}`, auth: { key_env: 'PORTCULLIS_DEMO_BUS_KEY' } },
        log: { level: 'warn', format: 'pretty', access: false },
        verifier: { pool_size: 1 },
      });
      if (!v.ok) throw new Error(`embedded demo config invalid (a bug):\n${formatProblems(v.errors)}`);
      const member = await startMember(v.config, logger.child({ instance: i }), 'single');
      const inst = await ProxyInstance.start({ config: v.config, logger: logger.child({ instance: i }), admin: true, ...member.instance });
      started.push({ name: `instance ${i}`, run: async (progress) => { await inst.shutdown(progress); progress('cluster member'); await member.node.close(progress); } });
      instances.push({ inst, member });
    }
    const ready = Promise.all(instances.map(async ({ inst, member }) => { await member.node.ready(); await inst.whenAuthReady(10_000); }));
    await natsBound(ready, exited, `the instances did not replay revocations from nats-server 127.0.0.1:${natsPort}`, READY_MS);

    const token = await as.issueJwt({ sub: 'carol', scope: 'orders:read' });
    const urls = instances.map(({ inst }) => `http://127.0.0.1:${inst.port}/orders/1`);
    const out: string[] = ['', `Portcullis cluster demo — nats-server 127.0.0.1:${natsPort}, authorization server ${as.url}`, ''];
    instances.forEach(({ inst }, i) => out.push(`  instance ${i + 1}: proxy http://127.0.0.1:${inst.port}  admin http://127.0.0.1:${inst.adminPort}`));
    out.push('', `  export TOKEN=${token}`, '');
    const before = await Promise.all(urls.map((u) => status(u, token)));
    out.push(`Before: the token at instances 1, 2, 3 → ${before.join(', ')}`);
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
    const t0 = performance.now();
    const revoked = await bounded(`http://127.0.0.1:${instances[0]!.inst.adminPort}/revocations`, {
      method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'jti', value: jti, reason: 'demo' }),
    });
    out.push(`Revoked jti ${jti} at instance 1 (admin API answered ${revoked}).`);
    const refusedAfter: string[] = [];
    for (let i = 1; i < 3; i++) {
      let s = 0;
      const deadline = performance.now() + 5_000;
      while ((s = await status(urls[i]!, token)) === 200 && performance.now() < deadline) await new Promise((res) => setTimeout(res, 1));
      refusedAfter.push(s === 401 ? `instance ${i + 1} refused it (401) ${(performance.now() - t0).toFixed(1)} ms after the revocation was sent` : `instance ${i + 1} still answered ${s} after 5 s`);
    }
    out.push(...refusedAfter.map((l) => `  ${l}`));
    const after = await Promise.all(urls.map((u) => status(u, token)));
    out.push(`After: the token at instances 1, 2, 3 → ${after.join(', ')}`, '');
    if (!values.exit) {
      out.push('Try it yourself (a fresh token, then revoke it by subject at instance 2):');
      out.push(`  export TOKEN2=${await as.issueJwt({ sub: 'dave', scope: 'orders:read' })}`);
      out.push(`  curl -i ${urls[2]} -H "Authorization: Bearer $TOKEN2"`);
      out.push(`  curl -s -X POST http://127.0.0.1:${instances[1]!.inst.adminPort}/revocations -H "Authorization: Bearer ${adminToken}" -H 'content-type: application/json' -d '{"kind":"sub","value":"dave"}'`);
      out.push(`  curl -i ${urls[2]} -H "Authorization: Bearer $TOKEN2"     # 401 revoked`, '', 'Ctrl-C stops everything.', '');
    }
    process.stdout.write(out.join('\n') + '\n');
    const ok = before.every((s) => s === 200) && after.every((s) => s === 401);
    // --exit: a signal while everything stops still ends it at once (without a listener, a signal
    // then killed the process before nats-server, last in the list, and left it running)
    if (values.exit) { signals.stopping(); const clean = await stopAll(); process.exitCode = ok && clean ? 0 : 1; signals.release(); return; }
    // a second signal while stopping ends it at once, nats-server and its store with it (before, it
    // was ignored and a stop that hung could only be killed, leaving nats-server running)
    signals.up(() => {
      stopping = true;
      void stopAll().then((clean) => {
        if (clean) process.stdout.write('stopped\n');
        else process.stderr.write('stopped, but the steps above failed\n');
        process.exit(clean ? 0 : 1);
      });
    });
  } catch (err) {
    signals.stopping();
    await stopAll();
    signals.release();
    throw err;
  }
}
