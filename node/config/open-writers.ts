// Which watched file a process still holds open for writing (Linux /proc): `serve --watch` waits for
// the writer to close it, so a file caught half-written — often still valid YAML with less in it — is never applied.
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';

/** A process holding a watched file open for writing. */
export interface OpenWriter { readonly file: string; readonly pid: number }

const ACCESS_MODE = 0o3; // O_ACCMODE: 0 read-only, 1 O_WRONLY, 2 O_RDWR

/**
 * The first of `files` that some process on this host (as far as /proc shows this process: its
 * PID namespace, and the fds of processes it may inspect) has open for writing, or null. Null too
 * where /proc is missing (not Linux): the check is best effort, never an error. Reads /proc
 * asynchronously: a host of many processes costs the reload path time, never the event loop.
 */
export async function openWriter(files: readonly string[]): Promise<OpenWriter | null> {
  const targets = new Map<string, string>(); // the path the kernel shows → the path as configured
  for (const f of files) {
    try { targets.set(await realpath(f), f); } catch { /* missing now (a rename in progress): nothing holds it */ }
  }
  if (targets.size === 0) return null;
  let pids: string[];
  try { pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)); } catch { return null; }
  for (const pid of pids) {
    let fds: string[];
    try { fds = await readdir(`/proc/${pid}/fd`); } catch { continue; } // gone, or not ours to inspect
    for (const fd of fds) {
      let target: string;
      try { target = await readlink(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const file = targets.get(target);
      if (file === undefined) continue;
      let info: string;
      try { info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'latin1'); } catch { continue; }
      const flags = /^flags:\s*([0-7]+)/m.exec(info);
      if (flags !== null && (parseInt(flags[1]!, 8) & ACCESS_MODE) !== 0) return { file, pid: Number(pid) };
    }
  }
  return null;
}
