// Runs before every test file (vitest setupFiles): hooks that every file needs, here the
// removal of the temporary directories the helpers created for it.
import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers/temp-dirs.js';

afterAll(() => { removeTempDirs(); });
