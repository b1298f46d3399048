// POST /reload's word on a file still being written: it reads the file as it is (the operator's act), and its
// answer names the process holding the config (or a watched TLS) file open for writing, and the `--watch` wait
// the reload ended when it applied — so the operator sees why a half-written file was refused, or what was applied.
import { performance } from 'node:perf_hooks';
import { openWriter, watchHold } from '../../node/config/index.js';

type Answer = { status: number; body: unknown };

/**
 * Run `reload` (POST /reload) after looking for a writer of `files`; an applied reload ends `--watch`'s wait for
 * the changes it saw before. The answer gains `open_for_writing` (`{ file, pid }`) when a process had one of them
 * open for writing, `watch_waited_s` when `--watch` was holding a change back, and a `note` saying what that meant.
 */
export async function reloadNamingWriter(files: readonly string[], reload: () => Promise<Answer> | Answer): Promise<Answer> {
  const writer = await openWriter(files).catch(() => null);
  const wait = watchHold.wait;
  const waited = watchHold.waitingSeconds();
  const readAt = performance.now();
  const r = await reload();
  const applied = r.status === 200;
  if (applied) watchHold.operatorApplied(readAt);
  if (writer === null && wait === null) return r;
  const who = writer ?? wait!;
  const note = applied
    ? `applied the file as it was read now, although process ${who.pid} ${writer !== null ? 'has' : 'had'} ${who.file} open for writing${wait !== null ? `; serve --watch no longer waits for it (it waited ${Math.round(waited)} s)` : ''}`
    : `not applied; process ${who.pid} ${writer !== null ? 'has' : 'had'} ${who.file} open for writing: it may be half-written${wait !== null ? `; serve --watch waits for it to be closed (${Math.round(waited)} s so far)` : ''}`;
  const body = typeof r.body === 'object' && r.body !== null ? r.body : {};
  return {
    status: r.status,
    body: { ...body, open_for_writing: writer === null ? null : { file: writer.file, pid: writer.pid }, ...(wait !== null ? { watch_waited_s: Math.round(waited * 10) / 10 } : {}), note },
  };
}
