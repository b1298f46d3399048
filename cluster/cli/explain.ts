// `portcullis explain`: which route matches a request, each rule, why allowed or denied (exit 0/1, 2 usage or
// bad config). --token is judged against the issuers' live keys, its revocation by the instance at FILE's admin
// listener (explain-revocations.ts); with cluster policy that member judges all of it (explain-member.ts).
import { createAuth, explainRequest, formatExplain, type Auth } from '../../node/auth/index.js';
import { formatProblems, loadConfigFile } from '../../node/config/index.js';
// the one file, not the folder's index: that loads the policy watcher, the bus and the revocation store
import { readClusterPolicyConfig } from '../policy/policy-local-config.js';
import { createLogger } from '../../node/log.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';
import { revocationAtInstance } from './explain-revocations.js';
import { explainAtMember, printableAnswer } from './explain-member.js';
import { readStdinToken } from './stdin-token.js';

export async function explain(argv: string[], usage: string): Promise<void> {
  const { values, positionals } = parseCommandLine('explain', {
    args: argv, allowPositionals: true,
    options: { config: { type: 'string' }, token: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  if (values.config === undefined) {
    // `explain portcullis.yaml GET /x` — check-config's spelling; the file itself is never printed
    const slip = positionals.length === 3 && /\.(ya?ml|json)$/i.test(positionals[0]!);
    throw new UsageError(`explain: --config FILE is required${slip ? ' — give the config file as --config FILE, before METHOD PATH' : ''}\n\n${usage}`);
  }
  if (positionals.length !== 2) throw new UsageError(`explain: expected METHOD PATH\n\n${usage}`);
  const [method, path] = positionals as [string, string];
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError('explain: METHOD must be letters, such as GET (the argument given is not shown: it may be a token)');
  if (!path.startsWith('/')) throw new UsageError('explain: PATH must start with /, such as /orders/42 (the argument given is not shown: it may be a token)');
  // `--token -`: from stdin, out of the process list and the shell history (as revoke --token -)
  const token = values.token === '-' ? (await readStdinToken('explain')).trim() : values.token;
  if (token === '') throw new UsageError(values.token === '-' ? 'explain: --token -: nothing on stdin' : 'explain: --token: empty token');
  const req = { method, path, ...(values.host !== undefined ? { host: values.host } : {}) };
  // a local part alone (cluster.policy.source: cluster) has no routes: the member at its admin listener judges
  const local = readClusterPolicyConfig(values.config, null);
  if (local !== null) {
    await explainClusterPolicy(values.config, local, { ...req, ...(token !== undefined ? { token } : {}) }, values.json === true);
    return;
  }
  const r = loadConfigFile(values.config, { env: process.env });
  if (!r.ok) throw new UsageError(`invalid config ${values.config}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  const logger = createLogger({ level: 'error', format: 'json' });
  // a small pool: one token to judge
  const auth = createAuth({ ...r.config, verifier: { ...r.config.verifier, pool_size: 1 } }, logger);
  // the auth side's timers are unref'd (a proxy's lifetime is its listener's): without this one, an
  // issuer that refuses connections left nothing to wait on and the CLI exited 0 — "allowed" — silently
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    const until = Date.now() + 10_000;
    if (token !== undefined && !(await auth.whenReady(10_000))) {
      process.stderr.write('portcullis: explain: issuer keys or introspection endpoint not available within 10 s; the token verdict will be "unavailable"\n');
    }
    if (token !== undefined) await keysSettled(auth, until);
    let answer = await explainRequest(r.config, auth, { ...req, ...(token !== undefined ? { token } : {}) });
    // FILE cannot say whether the token is revoked: the running instance's store can
    const check = token !== undefined && answer.allowed ? await revocationAtInstance(r.config, process.env, { ...req, token: token }) : null;
    if (check?.kind === 'refused') {
      // the token rule read "pass" above a DENIED (revoked) verdict: it is the rule the instance failed
      const rules = answer.rules.map((x) => (x.rule === 'token' ? { ...x, ok: false, why: `refused by the instance at ${check.at}: ${check.reason}` } : x));
      answer = { ...answer, allowed: false, status: check.status, rules, token: answer.token === null ? null : { ...answer.token, ok: false, reason: check.reason }, summary: `route ${answer.route}: denied with ${check.status} (${check.reason}) by the instance at ${check.at}` };
    }
    const note = check === null || check.kind === 'refused' ? null : check.kind === 'not_revoked' ? `revocations checked at ${check.at}: not revoked` : `revocations NOT checked: ${check.why}; a member holding one would answer 401`;
    if (values.json) process.stdout.write(JSON.stringify(note === null ? answer : { ...answer, revocations: note }, null, 2) + '\n');
    else process.stdout.write(formatExplain(answer, method, path) + (note === null ? '' : `\n  ${note}`) + '\n');
    process.exitCode = answer.allowed ? 0 : 1;
  } finally {
    clearInterval(keepAlive);
    await auth.close();
  }
}

/**
 * FILE takes its policy from the cluster: print the verdict of the member at its admin listener (its running
 * version, its revocations). Before, explain exited 2 here ("holds no routes") and the operator had to curl the
 * admin API; it still does, saying why, when no member on this host answers.
 */
async function explainClusterPolicy(file: string, local: NonNullable<ReturnType<typeof readClusterPolicyConfig>>, req: { method: string; path: string; host?: string; token?: string }, json: boolean): Promise<void> {
  if (!local.ok) throw new UsageError(`invalid config ${file}: ${local.errors.length} error(s)\n${formatProblems(local.errors)}`);
  const r = await explainAtMember(local.config, process.env, req);
  if (r.kind === 'unavailable') {
    throw new UsageError(`explain: ${file} takes its policy from the cluster (cluster.policy.source: cluster), so it holds no routes, and ${r.why}: run it on a member's host with that member's config, ask a member (POST /explain on its admin API) or give a file with the policy`);
  }
  const note = `judged by the member at ${r.at}: its cluster policy version and revocations`;
  if (json) process.stdout.write(JSON.stringify({ ...r.answer, judged_by: r.at }, null, 2) + '\n');
  else process.stdout.write(`${formatExplain(printableAnswer(r.answer), req.method, req.path)}\n  ${note}\n`);
  process.exitCode = r.answer.allowed ? 0 : 1;
}

/**
 * An issuer with introspection is ready once its endpoint is known and judges JWTs by introspection
 * until its keys arrive; a running proxy has them. Wait until each such issuer's keys load, one of
 * its key fetches fails, or `untilMs`, so a JWT is judged as the proxy judges it (before: always
 * introspected — "opaque token", one authorization-server call per explain).
 */
async function keysSettled(auth: Auth, untilMs: number): Promise<void> {
  const pending = (): boolean => {
    const stats = auth.stats();
    return Object.entries(auth.readiness()).some(([name, r]) => r.introspection !== null && !r.keys && (stats[`jwt.jwks.${name}.fetch_failed`] ?? 0) === 0);
  };
  while (pending() && Date.now() < untilMs) await new Promise((resolve) => setTimeout(resolve, 25));
}
