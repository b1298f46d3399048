// `portcullis bench [SCENARIO…] [--quick] [--record]`: runs the autocannon scenarios of bench/;
// its help lists every scenario of bench/scenarios.ts with what it measures.
import { parseCommandLine } from './command-line.js';
import { UsageError } from './usage-error.js';

/** `text` wrapped at `width` columns, every line after the first indented by `indent` spaces. */
function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width - indent) { lines.push(line); line = word; }
    else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

/** The full help: `usage` (the command line and flags) plus one entry per registered scenario. */
export async function benchHelp(usage: string): Promise<string> {
  const { scenarios } = await import('../../bench/scenarios.js');
  const names = Object.keys(scenarios);
  const col = Math.max(...names.map((n) => n.length)) + 4;
  const list = names.map((n) => `  ${n.padEnd(col - 2)}${wrap(scenarios[n]!.description, 100, col)}`);
  return `${usage}\n\nScenarios (default: all, in this order):\n${list.join('\n')}\n`;
}

/** Run `portcullis bench`. Throws UsageError (exit 2) for an unknown scenario or --quick with --record. */
export async function bench(argv: string[], usage: string): Promise<void> {
  const { values, positionals } = parseCommandLine('bench', { args: argv, options: { quick: { type: 'boolean' }, record: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true }, usage);
  if (values.help) { process.stdout.write(await benchHelp(usage)); return; }
  if (values.quick === true && values.record === true) throw new UsageError('bench: --record: a --quick run is a smoke test, not numbers to record; drop one of them');
  const { resolveScenarios, runBench } = await import('../../bench/run.js');
  try {
    resolveScenarios(positionals);
  } catch (err) {
    throw new UsageError(`bench: ${(err as Error).message}\n\n${usage}`);
  }
  // before any server starts: the load generator is a devDependency
  const { loadAutocannon } = await import('../../bench/load.js');
  await loadAutocannon();
  await runBench(positionals, { quick: values.quick === true, record: values.record === true });
}
