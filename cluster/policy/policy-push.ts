// Publishing a policy version: read the latest entry, build the next version on it and write
// it compare-and-set on the revision read. Shared by `portcullis policy push|rollback` and the
// admin API's POST /policy. Validation happens before, in the caller.
import type { PolicyDocument } from '../../node/config/index.js';
import type { BusAuth } from '../protocol/index.js';
import { newEntry, openEntry, openEnvelope, sealEntry, type PolicyEntry } from './policy-messages.js';
import { payloadVersion } from './policy-start-floor.js';
import { PolicyConflict, type PolicyStore } from './policy-store.js';

/** The push was based on a version that is no longer the latest (and was not forced). */
export class StalePolicyBase extends Error {
  readonly code = 'PORTCULLIS_POLICY_STALE_BASE';
  constructor(readonly base: number, readonly latest: number) {
    super(staleBaseMessage(base, latest, '"portcullis policy history"', '--force'));
  }
}

/** The refusal in the caller's own words: where the latest version is seen and how to force (the CLI's flag, the API's parameter). */
export function staleBaseMessage(base: number, latest: number, seeIt: string, force: string): string {
  return `stale base: the push is based on version ${base} but version ${latest} is the latest (check it with ${seeIt}; ${force} publishes anyway)`;
}

/** Largest sealed entry the default NATS max_payload (1 MiB) carries, bytes. */
export const MAX_ENTRY_BYTES = 1024 * 1024 - 4096;
/**
 * Bytes of a message's max_payload left for its headers: `NATS/1.0`, the compare-and-set and de-duplication headers
 * (`Nats-Expected-Last-Subject-Sequence`, `Nats-Msg-Id: on-<revision>`, about 100 bytes with 16-digit numbers). Before,
 * 4096: a server with a max_payload of 2 KiB refused every policy "at most -2048", and one of 64 KiB 4 KiB too early.
 */
const HEADER_ROOM = 256;

export interface PushOptions {
  /** Recorded as `pushedBy`. */
  readonly by: string;
  /** The version the caller based its policy on; undefined = whatever is latest when read here. */
  readonly base?: number;
  /** Publish even when `base` is stale or another push wins the race (then re-read and retry). */
  readonly force?: boolean;
  /**
   * The highest version members are known to run (their sealed heartbeats, a member's own); default 0. The next
   * number is past it too: a bucket emptied under them (purged, its values expired, deleted and created again)
   * numbers from 0, and a version not newer than theirs is one every running member ignores.
   */
  readonly floor?: number;
}

/**
 * Latest readable version in the bucket and the revision to write on (0 / null when empty), and
 * `highest`: the newest authentic version still in the history too, which the next push numbers
 * past — an old entry copied back onto `current` (or a corrupt one) must not make a push reuse a
 * number the members already run (they would ignore it as not newer).
 */
export async function latestVersion(store: PolicyStore, auth: BusAuth | null): Promise<{ version: number; revision: number | null; entry: PolicyEntry | null; highest: number }> {
  const latest = await store.latest();
  const o = latest === null ? null : openEntry(latest.value, store.bucket, auth);
  const entry = o?.ok === true ? o.entry : null;
  let highest = entry?.version ?? 0;
  // read under a delete marker too (`current` deleted): the versions before it still count, or the next push was "version 1"
  for (const h of await store.history()) {
    const e = openEnvelope(h.value, store.bucket, auth);
    if (e.ok) highest = Math.max(highest, payloadVersion(e.payload));
  }
  // a corrupt or foreign value on top: number past the highest readable version
  return { version: entry?.version ?? highest, revision: latest?.revision ?? null, entry, highest };
}

/** Publish `policy` as the next version; throws StalePolicyBase, PolicyConflict (lost a race, not forced) or a bus error. */
export async function pushPolicy(store: PolicyStore, auth: BusAuth | null, policy: PolicyDocument, opts: PushOptions): Promise<PolicyEntry> {
  for (let attempt = 0; ; attempt++) {
    const cur = await latestVersion(store, auth);
    if (opts.base !== undefined && opts.base !== cur.version && opts.force !== true) throw new StalePolicyBase(opts.base, cur.version);
    const past = Math.max(cur.highest, opts.floor ?? 0);
    // a key holder's entry numbered 2^53 − 1: the next number is no safe integer, and every member would ignore it as corrupt
    if (!Number.isSafeInteger(past + 1)) throw new Error(`no version number is left after ${past}, the newest authentic version in the bucket or run by a member (written with the bus key, not by a push): delete the bucket, remove the members' state files and restart them (README: Cluster policy)`);
    const entry = newEntry(policy, past + 1, cur.version, opts.by);
    const bytes = sealEntry(entry, store.bucket, auth);
    // a server's max_payload below the default: before, nats.js's bare `MAX_PAYLOAD_EXCEEDED`
    const server = store.maxPayload();
    const limit = server === null ? MAX_ENTRY_BYTES : Math.max(0, Math.min(MAX_ENTRY_BYTES, server - HEADER_ROOM));
    if (bytes.byteLength > limit) throw new Error(`the policy is too large for the bus: ${bytes.byteLength} bytes compressed, at most ${limit}${limit < MAX_ENTRY_BYTES ? ` (the NATS server's max_payload is ${server} bytes, less the message headers)` : ''}; nothing published`);
    try {
      await store.write(bytes, cur.revision);
      return entry;
    } catch (err) {
      if (!(err instanceof PolicyConflict)) throw err;
      if (opts.force !== true || attempt >= 4) throw await lostTo(store, auth, err, cur.version);
    }
  }
}

/**
 * The race lost, in words naming the version that won (read again; the bare conflict when that read fails). Before,
 * "another push won" alone: the operator had to go and find which version, and whether it was their own retried push.
 */
async function lostTo(store: PolicyStore, auth: BusAuth | null, err: PolicyConflict, base: number): Promise<PolicyConflict> {
  try {
    const now = await latestVersion(store, auth);
    if (now.entry === null) return new PolicyConflict(`the bucket changed while this push was written, but holds no version on top: its latest entry is no authentic version (a value written without the bus key, or the key deleted or purged), not a push; nothing of this push was published — push again (it numbers past the newest version in the bucket's history)`, err.by);
    // what won is no newer version (an old entry copied back on top, as a bucket writer without the key can): before,
    // "another push won: version 1 … was written after version 2" named it as if it were one
    if (now.entry.version <= base) return new PolicyConflict(`the bucket changed while this push was written, but holds no newer version: its latest entry is version ${now.entry.version} (digest ${now.entry.digest.slice(0, 12)}), not newer than version ${base}, which this push was based on — an old entry written back on top, not a push; nothing of this push was published — push again (it numbers past the newest version in the bucket's history)`, err.by);
    return new PolicyConflict(`another push won: version ${now.entry.version} (digest ${now.entry.digest.slice(0, 12)}) was written after version ${base}, which this push was based on; nothing of this push was published — look at version ${now.entry.version} and push again if yours is still wanted`, err.by);
  } catch {
    return err;
  }
}
