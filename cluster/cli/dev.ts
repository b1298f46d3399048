// `portcullis dev`: embedded demo on loopback.
export async function dev(_argv: string[], usage: string): Promise<void> {
  void usage;
  throw new Error('dev: not available yet');
}
