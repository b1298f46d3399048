// `promtool check metrics` (Debian package prometheus; .ci/run installs it): the reference
// parser and linter for the Prometheus text format, run on a real /metrics scrape.
import { spawnSync } from 'node:child_process';

/** Exit status and whatever promtool said (empty when the text is valid and lint-clean). */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw new Error(`promtool not runnable (install the Debian package prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** `# TYPE` of every family in a Prometheus text. */
export function familyTypes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}
