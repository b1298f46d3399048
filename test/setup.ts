// Runs before every test file (vitest setupFiles): hooks that every file needs, here killing the
// proxies and CLI runs it left running and removing the temporary directories the helpers created for it.
import { afterAll } from 'vitest';
import { killLeftChildren } from './helpers/reaper.js';
import { removeTempDirs } from './helpers/temp-dirs.js';

// registered first, so run last: after the file's own afterAll hooks stopped what they track
afterAll(() => { killLeftChildren(); removeTempDirs(); });
