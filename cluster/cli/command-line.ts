// Command-line parsing for every `portcullis` command: node:util parseArgs (strict), plus a value
// option given twice refused (the last one silently won: `revoke --jti a --jti b` revoked only b),
// and a stray argument never echoed (it may be a token pasted after `--token Bearer`).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Token = { kind: string; name?: string };
import { UsageError } from './usage-error.js';

/**
 * parseArgs with `strict: true` that also refuses a string option given more than once (unless
 * declared `multiple`); a boolean flag repeated means the same and passes. Every failure (unknown
 * option, missing value, unexpected positional, repetition) throws a UsageError (exit 2):
 * "`cmd`: what is wrong", then `usage` when given.
 */
export function parseCommandLine<T extends ParseArgsConfig>(cmd: string, config: T, usage?: string): ReturnType<typeof parseArgs<T>> {
  const tail = usage === undefined ? '' : `\n\n${usage}`;
  config = withShortHelp(config);
  let parsed: { tokens?: Token[] };
  try {
    parsed = parseArgs({ ...config, strict: true, tokens: true });
  } catch (err) {
    // parseArgs quotes the stray argument: `revoke --token Bearer eyJ…` (unquoted) printed the token
    if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const hint = configFileSlip(config) ? 'give the config file as --config FILE' : 'quote a value that holds spaces';
      throw new UsageError(`${cmd}: unexpected argument (not shown: it may be a token or a secret); this command takes none — ${hint}${tail}`);
    }
    if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${cmd}: ${unknownOption(config)}${tail}`);
    throw new UsageError(`${cmd}: ${(err as Error).message}${tail}`);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    const spec = config.options?.[t.name];
    if (spec?.type !== 'string' || spec.multiple === true) continue;
    if (seen.has(t.name)) throw new UsageError(`${cmd}: --${t.name} given more than once: give it once (the last value would have won silently)${tail}`);
    seen.add(t.name);
  }
  return parsed as unknown as ReturnType<typeof parseArgs<T>>;
}

/**
 * `-h` is `--help` for every command that takes `--help`, as `portcullis -h` is: before, only `revoke` and
 * `policy` declared it, and `portcullis dev -h` answered "Unknown option '-h'".
 */
function withShortHelp<T extends ParseArgsConfig>(config: T): T {
  const help = config.options?.['help'];
  if (help === undefined || help.short !== undefined) return config;
  return { ...config, options: { ...config.options, help: { ...help, short: 'h' } } };
}

/**
 * `serve portcullis.yaml` — check-config's spelling, the newcomer's slip: a stray argument naming a
 * YAML or JSON file to a command that takes `--config FILE` and was not given one. Only the file's
 * extension is looked at; the argument itself is still never printed.
 */
function configFileSlip(config: ParseArgsConfig): boolean {
  if (config.options?.['config']?.type !== 'string') return false;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ ...config, strict: true, allowPositionals: true }) as typeof parsed;
  } catch {
    return false;
  }
  return parsed.values['config'] === undefined && parsed.positionals.some((a) => /\.(ya?ml|json)$/i.test(a));
}

/**
 * The first unknown option, and the known one it most likely misspells (`--no-evn` → `--no-env`).
 * Node's own message advised `-- "--no-evn"`, passing the typo as a positional, to a newcomer who
 * had mistyped a flag. A name that does not look like an option word is not echoed.
 */
function unknownOption(config: ParseArgsConfig): string {
  const known = Object.keys(config.options ?? {});
  const args = config.args ?? process.argv.slice(2);
  const name = args.map((a) => a.split('=')[0]!).find((a) => a.startsWith('-') && a !== '--' && !isKnown(a, config)) ?? '';
  // an option word: lowercase letters and hyphens (no option has a digit), or one letter after a single dash —
  // before, `-eyJhbGciOiJIUzI1NiJ9` or a 32-digit hex token after `--` (no dot) was echoed as the "option"
  if (!/^(--[a-z][a-z-]{0,31}|-[a-z])$/i.test(name) || (name.startsWith('--') && name !== name.toLowerCase())) return 'Unknown option (not shown: it may be a token or a secret); the options are listed below';
  const bare = name.replace(/^--?/, '');
  const near = known.filter((k) => k !== 'help' && distance(bare.toLowerCase(), k) <= (k.length > 5 ? 2 : 1));
  return near.length === 1 ? `Unknown option '${name}': did you mean --${near[0]}?` : `Unknown option '${name}'; the options are listed below`;
}

function isKnown(arg: string, config: ParseArgsConfig): boolean {
  const opts = config.options ?? {};
  if (arg.startsWith('--')) return arg.slice(2) in opts;
  // a short group (-ab): known when every letter is some option's short
  return [...arg.slice(1)].every((c) => Object.values(opts).some((o) => o.short === c));
}

/** Edit distance with a swap of two neighbours as one edit (`--jit` → `--jti`): option names only. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
