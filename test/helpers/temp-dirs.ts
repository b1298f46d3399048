// Temporary directories for tests: created under the system temp directory and removed
// after each test file (test/setup.ts registers the afterAll), so a run leaves nothing behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();

/** A fresh directory `<tmp>/<prefix>XXXXXX`, removed with everything in it after the current test file. */
export function tempDir(prefix = 'portcullis-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Remove every directory tempDir() created so far (best effort: a file still open elsewhere is not an error). */
export function removeTempDirs(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

// A process that ends without the file's afterAll (a crash, a helper used outside vitest) still cleans up.
process.once('exit', removeTempDirs);
