#!/usr/bin/env node
// The `portcullis` command: parses the command line and hands each command (USAGE lists
// them; `worker` is the node:cluster supervisor's internal entry, cluster/process) to its
// module. Exit code 2 on bad usage (UsageError) or bad config, 1 on any other failure.
import { UsageError } from './usage-error.js';
import { fail } from './fail.js';
import { exitWhenDone } from './exit-when-done.js';

const USAGE: Record<string, string> = {
  main: `portcullis — OAuth 2.0 access proxy for microservices

Usage: portcullis <command> [options]

Commands:
  dev [--port N]                   embedded demo: authorization server + echo upstream + proxy
  serve --config FILE [--workers N|auto] [--watch]
                                   run the proxy
  check-config [--no-env] FILE     validate a config file and its environment, list every error with its path
  explain --config FILE METHOD PATH [--token T] [--host H] [--json]
                                   which route matches, each rule and why allowed/denied
  revoke (--jti ID | --token T | --sub S [--without-sid] [--before TIME] | --client ID [--before TIME] | --kid KID | --sid SID) (--config FILE | --admin URL)
                                   revoke tokens on every instance (NATS, else the admin API)
  cluster-demo [--exit]            nats-server + 3 instances: a revocation at one is refused at the others
  policy push|status|history|rollback --config FILE
                                   cluster-wide policy versions (policy --help)
  bench [SCENARIO...] [--quick] [--record]
                                   run benchmarks (bench --help lists the scenarios)
  demo-auth | demo-echo            the dev mode's authorization server / echo upstream alone (compose demo)

Run "portcullis <command> --help" for a command's options; "portcullis --version" prints the version.`,
  serve: `Usage: portcullis serve --config FILE [--workers N|auto] [--watch]

  --config FILE     YAML config (see deploy/portcullis.example.yaml)
  --workers N|auto  worker processes sharing the port (default: server.workers; auto = cores)
  --watch           reload when FILE changes (same as SIGHUP or admin POST /reload)

Signals: SIGTERM/SIGINT drain and exit 0, last line "stopped" (exit 1 and "stopped, but …" when a part
of the stop failed or hung); a second one skips the rest of shutdown_delay_ms. SIGHUP reloads the config.`,
  'check-config': `Usage: portcullis check-config [--no-env] FILE

Validates FILE completely, including the environment it names: every *_env variable must be
set and non-empty and every *_file readable, as serve requires. Prints "ok" or every error
with its path. Exit 0 when valid, 2 otherwise.

  --no-env       skip the environment check (pipelines that validate without secrets and files)
  --config FILE  the same as FILE alone (as serve and explain spell it)`,
  dev: `Usage: portcullis dev [--port N]

Starts, on loopback, an embedded authorization server, an echo upstream and the proxy,
then prints the proxy URL, a ready bearer token and copy-paste curl lines. Ctrl-C stops all.

  --port N   the proxy's port; exits 1 when N is in use (0 = any free port).
             Without --port: 8080, or a free port when 8080 is taken.`,
  explain: `Usage: portcullis explain --config FILE METHOD PATH [--token T] [--host H] [--json]

Prints the matched route, each rule and why the request would be allowed or denied.
With --token the token is checked against the issuers' live JWKS/introspection, and its
revocation by the instance at FILE's admin listener (on this host; else "revocations NOT checked").
  --config FILE  the config to judge by (check-config takes it as FILE alone; explain needs --config)
  --token T      the bearer token, as the client sends it after "Bearer "
  --token -      read the token from stdin (out of the process list and the shell history)
  --host H       the request's Host (routes with match.host); without it, a request with no Host
  --json         print the answer as JSON; exit 0 when allowed, 1 when denied
Exit 0 allowed, 1 denied, 2 bad usage or a bad config.`,
  'cluster-demo': `Usage: portcullis cluster-demo [--exit]

Starts a local nats-server (JetStream), the demo authorization server, an echo upstream and
three proxy instances; shows a token allowed at all three, revoked at instance 1 and refused
at instances 2 and 3 with the delay. --exit stops after the demonstration (exit 0 when it held).`,
  bench: `Usage: portcullis bench [SCENARIO...] [--quick] [--record]

Runs the benchmark scenarios (each starts its own upstream, Portcullis and peers) and
prints a table per scenario; bench/RESULTS.md says how to read and accept them.

  --quick    smoke run: 1 round of 2 s per measurement (never recorded)
  --record   write the JSON to bench/results/ (numbers to cite in bench/RESULTS.md);
             without it every run writes to bench/results/local/ (git-ignored)

Environment: PORTCULLIS_BENCH_ROUNDS (3), PORTCULLIS_BENCH_DURATION_S (5),
PORTCULLIS_BENCH_JWT_ALG (RS256 or ES256), PORTCULLIS_BENCH_CPU_PROF_DIR (V8 profiles).`,
};

/**
 * A reader that left (`portcullis … | head -0`): Node ignores SIGPIPE, so the next write fails with
 * EPIPE as an 'error' event that, unhandled, printed a crash trace and made every verdict exit 1.
 * Output nobody reads is dropped; the command ends with its own exit code.
 */
function dropOutputToClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

async function main(): Promise<void> {
  dropOutputToClosedPipe(process.stdout);
  dropOutputToClosedPipe(process.stderr);
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    switch (cmd) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE.main + '\n');
        if (cmd === undefined) process.exitCode = 2;
        return;
      case '--version':
      case '-V':
      case 'version': {
        // the first thing an operator types on a new host or in a bug report; before, "unknown command"
        const { PORTCULLIS_VERSION } = await import('../../node/version.js');
        process.stdout.write(`portcullis ${PORTCULLIS_VERSION} (node ${process.version})\n`);
        return;
      }
      // each command's modules load only when it runs: --help and check-config skip the proxy's
      case 'serve': { const { serve } = await import('./serve.js'); return await serve(rest, USAGE.serve!); }
      case 'worker': { const { runWorker } = await import('../process/index.js'); return await runWorker(rest); }
      case 'check-config': { const { checkConfig } = await import('./check-config.js'); return checkConfig(rest, USAGE['check-config']!); }
      case 'dev': { const { dev } = await import('./dev.js'); return await dev(rest, USAGE.dev!); }
      // both may leave a nats.js socket that keeps the process alive after their work: exit-when-done.ts
      case 'policy': { const { policy, POLICY_USAGE } = await import('./policy.js'); await policy(rest, POLICY_USAGE); return await exitWhenDone(); }
      case 'explain': { const { explain } = await import('./explain.js'); return await explain(rest, USAGE.explain!); }
      case 'cluster-demo': { const { clusterDemo } = await import('./cluster-demo.js'); return await clusterDemo(rest, USAGE['cluster-demo']!); }
      case 'revoke': { const { revoke, REVOKE_USAGE } = await import('./revoke.js'); await revoke(rest, REVOKE_USAGE); return await exitWhenDone(); }
      case 'bench': { const { bench } = await import('./bench.js'); return await bench(rest, USAGE.bench!); }
      case 'demo-auth': { const { demoAuth } = await import('./demo-servers.js'); return await demoAuth(rest); }
      case 'demo-echo': { const { demoEcho } = await import('./demo-servers.js'); return await demoEcho(rest); }
      default:
        throw new UsageError(`unknown command "${cmd}"\n\n${USAGE.main}`);
    }
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      fail(`${(err as Error).message}\n\n${USAGE[cmd ?? 'main'] ?? USAGE.main}`);
    }
    fail(`${(err as Error).message ?? String(err)}`, 1);
  }
}

void main();
