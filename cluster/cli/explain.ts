// `portcullis explain`: which route matches a request, each rule, and why it would be allowed or denied.
import { parseArgs } from 'node:util';

export async function explain(argv: string[], usage: string): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean' } }, allowPositionals: true, strict: false });
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  throw new Error('explain: not available yet');
}
