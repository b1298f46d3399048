// `portcullis explain`: which route matches a request, each rule, and why it would be
// allowed or denied. With --token the token is judged against the issuers' live JWKS or
// introspection endpoint, exactly as the proxy would. Exit 0 allowed, 1 denied, 2 usage or
// a config that cannot start (invalid, or an unset `*_env` variable).
import { createAuth, explainRequest, formatExplain } from '../../node/auth/index.js';
import { formatProblems, loadConfigFile } from '../../node/config/index.js';
import { createLogger } from '../../node/log.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';

export async function explain(argv: string[], usage: string): Promise<void> {
  const { values, positionals } = parseCommandLine('explain', {
    args: argv, allowPositionals: true,
    options: { config: { type: 'string' }, token: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  if (values.config === undefined) throw new UsageError(`explain: --config FILE is required\n\n${usage}`);
  if (positionals.length !== 2) throw new UsageError(`explain: expected METHOD PATH\n\n${usage}`);
  const [method, path] = positionals as [string, string];
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`explain: METHOD must be letters, got "${method}"`);
  if (!path.startsWith('/')) throw new UsageError(`explain: PATH must start with /, got "${path}"`);
  // the environment too: a config serve would refuse is not explained as if it could run
  const r = loadConfigFile(values.config, { env: process.env });
  if (!r.ok) throw new UsageError(`invalid config ${values.config}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}`);
  const logger = createLogger({ level: 'error', format: 'json' });
  // a small pool: one token to judge
  const auth = createAuth({ ...r.config, verifier: { ...r.config.verifier, pool_size: 1 } }, logger);
  // the auth side's timers are unref'd (a proxy's lifetime is its listener's): without this one, an
  // issuer that refuses connections left nothing to wait on and the CLI exited 0 — "allowed" — silently
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    if (values.token !== undefined && !(await auth.whenReady(10_000))) {
      process.stderr.write('portcullis: explain: issuer keys or introspection endpoint not available within 10 s; the token verdict will be "unavailable"\n');
    }
    const answer = await explainRequest(r.config, auth, { method, path, ...(values.host !== undefined ? { host: values.host } : {}), ...(values.token !== undefined ? { token: values.token } : {}) });
    process.stdout.write((values.json ? JSON.stringify(answer, null, 2) : formatExplain(answer, method, path)) + '\n');
    process.exitCode = answer.allowed ? 0 : 1;
  } finally {
    clearInterval(keepAlive);
    await auth.close();
  }
}
