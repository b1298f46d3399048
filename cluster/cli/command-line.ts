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
  let parsed: { tokens?: Token[] };
  try {
    parsed = parseArgs({ ...config, strict: true, tokens: true });
  } catch (err) {
    // parseArgs quotes the stray argument: `revoke --token Bearer eyJ…` (unquoted) printed the token
    if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const hint = configFileSlip(config) ? 'give the config file as --config FILE' : 'quote a value that holds spaces';
      throw new UsageError(`${cmd}: unexpected argument (not shown: it may be a token or a secret); this command takes none — ${hint}${tail}`);
    }
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
