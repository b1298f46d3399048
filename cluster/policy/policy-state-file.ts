// The last applied policy version on local disk (`cluster.policy.state_file`): the entry exactly
// as stored in the bucket (still sealed, so it is checked again when read), written 0600 with
// write + rename so a crash never leaves half a file.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../node/log.js';
import type { BusAuth } from '../protocol/index.js';
import { decodeEntry, openEnvelope } from './policy-messages.js';

interface StateFile { readonly v: 1; readonly bucket: string; readonly sealed: string }

/** Write atomically (0600); throws on an I/O error. */
export function writeStateFile(file: string, bucket: string, sealed: Uint8Array): void {
  const state: StateFile = { v: 1, bucket, sealed: Buffer.from(sealed).toString('base64') };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, file);
}

/** writeStateFile, a failure logged (the version applied still runs). */
export function persistState(file: string, bucket: string, sealed: Uint8Array, logger: Logger): void {
  try {
    writeStateFile(file, bucket, sealed);
  } catch (err) {
    logger.error({ err: String(err), file }, 'policy: cannot write the state file');
  }
}

/** The sealed entry of `bucket` in `file`, or why there is none (unreadable, malformed, another bucket's). */
export function readStateFile(file: string, bucket: string): { ok: true; sealed: Uint8Array } | { ok: false; problem: string } {
  let state: Partial<StateFile>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateFile>;
  } catch (err) {
    return { ok: false, problem: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  if (state?.v !== 1 || typeof state.sealed !== 'string') return { ok: false, problem: `${file} is not a policy state file` };
  if (state.bucket !== bucket) return { ok: false, problem: `${file} holds a version of ${String(state.bucket)}, not ${bucket}` };
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
