// House rules for the test files themselves (issue 8 item 16): a test asserts behaviour, not
// speed — no upper bound on a wall-clock duration (timing belongs in bench/; measurements may
// be printed) — and nothing is skipped or focused.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy-process.js';

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? testFiles(p) : /\.(test|fixtures?|helpers?)\.ts$|\/helpers\/.*\.ts$|-fixtures\.ts$|-helpers\.ts$/.test(p) ? [p] : [];
  });
}

/** What a duration looks like in our tests: a clock read, or a variable named like one. */
const DURATION = /Date\.now\(\)|performance\.now\(\)|\b(ms|\w+Ms|\w*_ms(_\w+)?|elapsed|took|waited|delays?|late\w*|closedAfter|\w*[Dd]uration\w*)\b/;
/** `expect(<duration>).toBeLessThan(…)` / `…OrEqual(…)`, on one line. */
const UPPER_BOUND = /expect\((.*)\)\.toBeLessThan(OrEqual)?\(/;

describe('test files', () => {
  const files = testFiles(join(ROOT, 'test'));

  it('assert no upper bound on a wall-clock duration', () => {
    const offenders: string[] = [];
    for (const f of files) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*(\/\/|\/?\*)/.test(line)) return; // comments may talk about it
        const m = UPPER_BOUND.exec(line);
        if (m !== null && DURATION.test(m[1]!)) offenders.push(`${relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('skip or focus nothing', () => {
    const offenders = files.filter((f) => /\b(it|test|describe)\.(only|skip|todo)\b|\.skipIf\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    expect(offenders.filter((f) => !f.endsWith('test-hygiene.test.ts'))).toEqual([]);
  });
});
