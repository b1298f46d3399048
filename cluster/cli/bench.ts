// `portcullis bench [SCENARIO…] [--quick]`: runs the autocannon scenarios of bench/.
import { parseArgs } from 'node:util';

export async function bench(argv: string[], usage: string): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  const { runBench } = await import('../../bench/run.js');
  await runBench(positionals, { quick: values.quick === true });
}
