// `portcullis check-config [--no-env] FILE`: validates a config file (or a cluster policy's local
// part) and the environment it names; prints "ok: …" or every error with its path (exit 2).
import { formatProblems, loadConfigFile, madeAtStartWarnings, type Config } from '../../node/config/index.js';
import { configWarnings } from '../../node/config-warnings.js';
// the one file, not the folder's index: that loads the policy watcher, the bus and the revocation store
import { readClusterPolicyConfig } from '../policy/policy-local-config.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine } from './command-line.js';
import { fail } from './fail.js';

/** Run `check-config` with its arguments; `usage` is its --help text. */
export function checkConfig(argv: string[], usage: string): void {
  // --config FILE as serve and explain spell it, or FILE alone: before, --config was Node's "Unknown option … place it after '--'"
  const { values, positionals: files } = parseCommandLine('check-config', { args: argv, options: { help: { type: 'boolean' }, 'no-env': { type: 'boolean' }, config: { type: 'string' } }, allowPositionals: true }, usage);
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  const positionals = values.config !== undefined ? [values.config, ...files] : files;
  if (positionals.length !== 1) throw new UsageError(`check-config: expected exactly one FILE\n\n${usage}`);
  const noEnv = values['no-env'] === true;
  // as serve at start: with the folders of the files a member rewrites while it runs (a reload never judges them),
  // except one systemd makes when the unit starts (run by hand while it is stopped): a warning, serve still refuses
  const cp = readClusterPolicyConfig(positionals[0]!, noEnv ? null : process.env, 'before-start');
  if (cp !== null) {
    // cluster policy: only the local part is this file's; each pushed version is checked by push and by every instance
    if (!cp.ok) fail(`invalid config ${positionals[0]}: ${cp.errors.length} error(s)\n${formatProblems(cp.errors)}`);
    if (!noEnv) folderWarnings(cp.config);
    process.stdout.write(`ok: ${positionals[0]} (local part; the policy comes from the cluster${noEnv ? '; environment not checked' : ''})\n`);
    return;
  }
  const r = loadConfigFile(positionals[0]!, { env: noEnv ? null : process.env, stateFolders: 'before-start', refuseHiddenRoutes: true });
  if (!r.ok) fail(`invalid config ${positionals[0]}: ${r.errors.length} error(s)\n${formatProblems(r.errors)}${noEnv ? '' : fileAloneHint(positionals[0]!)}`);
  if (!noEnv) folderWarnings(r.config);
  for (const w of configWarnings(r.config)) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
  process.stdout.write(`ok: ${positionals[0]} (${count(r.config.routes.length, 'route')}, ${count(Object.keys(r.config.upstreams).length, 'upstream')}, ${count(Object.keys(r.config.issuers).length, 'issuer')}${noEnv ? '; environment not checked' : ''})\n`);
}

/** `1 route`, `2 routes`: the ok line read "1 routes, 1 upstreams, 1 issuers" for the README's own examples. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The folders systemd makes only when the unit starts, missing now: said, not refused (README "check-config"). */
function folderWarnings(config: Config): void {
  for (const w of madeAtStartWarnings(config)) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
}

/**
 * When every error is the environment's (the README's minimal config run as is: `admin.token_env`
 * unset), say so and name --no-env: before, a newcomer validating an example read "invalid config"
 * with nothing telling them the file itself was fine. Costs a second load, on failure only.
 */
function fileAloneHint(file: string): string {
  const alone = loadConfigFile(file, { env: null, refuseHiddenRoutes: true });
  return alone.ok ? '\nthe file itself is valid: the errors above are the environment\'s (set them as serve needs them; check-config --no-env FILE checks the file alone)' : '';
}
