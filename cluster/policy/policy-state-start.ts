// Starting from the state file (`cluster.policy.state_file`) when the bus cannot give a usable
// version in time: its sealed entry checked as a bus entry would be (authentic, valid here with
// this instance's secrets) and held to the peers' version — or why it cannot be used.
import type { Config } from '../../node/config/index.js';
import type { BusAuth } from '../protocol/index.js';
import { openEnvelope, type CheckedEntry } from './policy-messages.js';
import { olderThan, type PeerVersion } from './policy-start-floor.js';
import { readStateFile } from './policy-state-file.js';
import type { VersionCheck } from './policy-validate.js';

/**
 * The state file's version, ready to start with; or `problem` and what kind: `missing` (no file yet: a
 * member that never applied a version), `unreadable` (a file that cannot be read or is not a state file
 * of this bucket), `refused` (readable, but not authentic, invalid here, or older than the peers' version).
 */
export type StateStart =
  | { readonly ok: true; readonly entry: CheckedEntry; readonly sealed: Uint8Array; readonly config: Config }
  | { readonly ok: false; readonly problem: string; readonly kind: 'missing' | 'unreadable' | 'refused' };

/**
 * Read and check `file` (of `bucket`) against the local document `localRaw` with `check`; not
 * older than what the peers run (`peers`): that would be the rollback the start floors refuse.
 */
export async function stateFileStart(file: string, bucket: string, auth: BusAuth | null, localRaw: unknown,
  check: (localRaw: unknown, payload: Uint8Array) => Promise<VersionCheck>, peers: Promise<PeerVersion | null> | null): Promise<StateStart> {
  const state = readStateFile(file, bucket);
  if (!state.ok) return { ok: false, problem: state.problem, kind: state.missing ? 'missing' : 'unreadable' };
  const sealed = state.sealed;
  const opened = openEnvelope(sealed, bucket, auth);
  const checked: VersionCheck = opened.ok ? await check(localRaw, opened.payload) : { kind: 'ignored', reason: opened.reason };
  if (checked.kind === 'ignored') return { ok: false, problem: `${file} refused (${checked.reason})`, kind: 'refused' };
  const verdict = checked.verdict;
  if (!verdict.ok) return { ok: false, problem: `${file} version ${checked.entry.version} invalid here: ${verdict.errors[0]?.path}: ${verdict.errors[0]?.message}`, kind: 'refused' };
  const below = olderThan(checked.entry, { stateFile: 0, peers: await (peers ?? null), history: null });
  if (below !== null) return { ok: false, problem: `${file} holds version ${checked.entry.version}, older than version ${below.floor}, ${below.by}`, kind: 'refused' };
  return { ok: true, entry: checked.entry, sealed, config: verdict.config };
}
