// `portcullis bench` as a user meets it (issue 8 item 17): `--help` lists every scenario of
// bench/scenarios.ts with what it measures, and a run's JSON goes to the git-ignored
// bench/results/local/ unless `--record` asks for bench/results/ (the numbers RESULTS.md cites).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scenarios } from '../../../bench/scenarios.js';
import { localResultsDir, resultsDir, resultsDirFor } from '../../../bench/paths.js';
import { ROOT, runCli } from '../../helpers/proxy-process.js';

describe('portcullis bench', () => {
  it('--help lists every scenario with what it measures, and the results folders', async () => {
    const r = await runCli(['bench', '--help']);
    expect(r.code, r.stderr).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const [name, s] of Object.entries(scenarios)) {
      expect(r.stdout, name).toMatch(new RegExp(`^  ${name.replace(/-/g, '\\-')} `, 'm'));
      expect(help, name).toContain(s.description.replace(/\s+/g, ' '));
    }
    expect(help).toContain('bench/results/local/');
    expect(help).toContain('--record');
  });

  it('an unknown scenario or --record with --quick is bad usage (exit 2) naming the known scenarios', async () => {
    const [unknown, quickRecord] = await Promise.all([runCli(['bench', 'nope']), runCli(['bench', 'passthrough', '--quick', '--record'])]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown bench scenario "nope"; known: passthrough, /);
    expect(quickRecord.code).toBe(2);
    expect(quickRecord.stderr).toMatch(/--record: a --quick run is a smoke test/);
  });

  it('results go to the ignored bench/results/local/ unless --record; recorded files stay tracked', () => {
    expect(resultsDirFor({})).toBe(localResultsDir());
    expect(resultsDirFor({ quick: true })).toBe(localResultsDir());
    expect(resultsDirFor({ record: true })).toBe(resultsDir());
    expect(localResultsDir()).toBe(join(ROOT, 'bench', 'results', 'local'));
    const ignored = (path: string): boolean => {
      try { execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT }); return true; } catch { return false; }
    };
    expect(ignored('bench/results/local/passthrough-2026-01-01T00-00-00Z.json')).toBe(true);
    expect(ignored('bench/results/passthrough-2026-01-01T00-00-00Z.json')).toBe(false);
  });
});
