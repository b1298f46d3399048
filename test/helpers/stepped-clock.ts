// A wall clock a test steps while the proxy runs, as NTP steps a host's: libfaketime (Debian package
// `faketime`) preloaded into the proxy reads an offset from a file the test rewrites; CLOCK_MONOTONIC
// (performance.now(), libuv timers) is left alone, so only Date.now() jumps.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dirs.js';

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

export interface SteppedClock {
  /** The environment that puts a process under this clock (pass to startProxy's `env`). */
  readonly env: Record<string, string>;
  /** Set the process's wall clock to the host's plus `offsetS` seconds (negative: behind), from its next clock read on. */
  step(offsetS: number): void;
}

/** A fresh clock at offset 0; throws naming the missing package when libfaketime is not installed. */
export function steppedClock(): SteppedClock {
  if (!existsSync(LIBFAKETIME)) throw new Error(`libfaketime missing (${LIBFAKETIME}): apt-get install -y faketime — .ci/run installs it`);
  const file = join(tempDir('portcullis-clock-'), 'offset');
  const step = (offsetS: number): void => writeFileSync(file, `${offsetS >= 0 ? '+' : ''}${offsetS}\n`);
  step(0);
  return {
    // NO_CACHE: the file is read at every clock read, so a step lands at once (a test's proxy only, never a benchmark)
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    step,
  };
}
