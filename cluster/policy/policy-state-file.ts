// The last applied policy version on local disk (`cluster.policy.state_file`): the entry exactly
// as stored in the bucket (still sealed, so it is checked again when read), written 0600 with
// write + fsync + rename (+ the directory's fsync) so neither a crash nor a power loss leaves half a file.
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../node/log.js';
import type { BusAuth } from '../protocol/index.js';
import { decodeEntry, openEnvelope } from './policy-messages.js';

interface StateFile { readonly v: 1; readonly bucket: string; readonly sealed: string }

/**
 * Write atomically and durably (0600): the bytes reach the disk before the rename, and the rename
 * before the call returns — a version the member reports as applied survives a power loss. Throws
 * on an I/O error, the temp file removed.
 */
export function writeStateFile(file: string, bucket: string, sealed: Uint8Array): void {
  const state: StateFile = { v: 1, bucket, sealed: Buffer.from(sealed).toString('base64') };
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // a temp file left by an earlier crash keeps its own mode on open
      writeFileSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    // a failed write (disk full, the rename refused) leaves no copy of the version beside the file
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  syncDir(dirname(file));
}

/** fsync a directory so a rename inside it is on disk; a filesystem that cannot (EINVAL/EISDIR) is left as is. */
function syncDir(dir: string): void {
  let fd: number;
  try { fd = openSync(dir, 'r'); } catch { return; }
  try { fsyncSync(fd); } catch { /* some filesystems refuse fsync on a directory */ } finally { closeSync(fd); }
}

/** writeStateFile, a failure logged (the version applied still runs). */
export function persistState(file: string, bucket: string, sealed: Uint8Array, logger: Logger): void {
  try {
    writeStateFile(file, bucket, sealed);
  } catch (err) {
    logger.error({ err: String(err), file }, 'policy: cannot write the state file');
  }
}

/**
 * The sealed entry of `bucket` in `file`, or why there is none: `missing` when the file does not
 * exist (a member that never applied a version: a normal first start), else unreadable, malformed, another bucket's.
 */
export function readStateFile(file: string, bucket: string): { ok: true; sealed: Uint8Array } | { ok: false; problem: string; missing: boolean } {
  let state: Partial<StateFile>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateFile>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, problem: `no state file yet at ${file} (written once this member applies a version)`, missing: true };
    return { ok: false, problem: `cannot read ${file} (${code ?? String(err)})`, missing: false };
  }
  if (state?.v !== 1 || typeof state.sealed !== 'string') return { ok: false, problem: `${file} is not a policy state file`, missing: false };
  if (state.bucket !== bucket) return { ok: false, problem: `${file} holds a version of ${String(state.bucket)}, not ${bucket}`, missing: false };
  return { ok: true, sealed: Buffer.from(state.sealed, 'base64') };
}

/**
 * The version an authentic state file holds; 0 when there is none, or it is unreadable or not
 * authentic. A starting member holds the bucket's `current` to it: whoever may write the bucket
 * without the bus key could otherwise copy an old authentic version back and roll it back.
 */
export function stateFileVersion(file: string | null, bucket: string, auth: BusAuth | null): number {
  const state = file === null ? null : readStateFile(file, bucket);
  if (state === null || !state.ok) return 0;
  const opened = openEnvelope(state.sealed, bucket, auth);
  const d = opened.ok ? decodeEntry(opened.payload) : null;
  return d !== null && d.ok ? d.entry.version : 0;
}
