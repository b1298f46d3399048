// What travels for cluster policy: the versioned entry stored in the KV bucket (gzipped JSON
// sealed with the bus key, bound to the bucket and key). Opening checks authenticity, shape and
// digest; anything else is refused with a reason, never thrown. (Each member's status rides on
// its heartbeat: cluster/protocol `member.heartbeat` v2.)
import { gunzipSync, gzipSync } from 'node:zlib';
import { CanonicalRouteMemo, policyDigest, type PolicyDocument } from '../../node/config/index.js';
import type { BusAuth } from '../protocol/index.js';

/** One pushed policy version as stored under `current` in `<P>_POLICY`. */
export interface PolicyEntry {
  readonly v: 1;
  /** 1, 2, 3…: one more than the version it was based on. */
  readonly version: number;
  /** The version the pusher saw as latest (0 for the first push). */
  readonly basedOn: number;
  /** SHA-256 hex of the canonical policy (node/config/policy-split.ts). */
  readonly digest: string;
  /** `--by NAME` of the CLI, or `admin-api@<member>`. */
  readonly pushedBy: string;
  /** Epoch ms at the pusher. */
  readonly pushedAt: number;
  readonly policy: PolicyDocument;
}

/** An entry as an instance keeps it: the policy as JSON text (cheap to pass between threads; parsed only when needed). */
export type CheckedEntry = Omit<PolicyEntry, 'policy'> & { readonly policyJson: string };

/** Why an entry read from the bucket was not used. */
export type EntryRefusal = 'unsigned' | 'bad_mac' | 'unknown_key' | 'stale' | 'corrupt' | 'digest_mismatch';

/** Largest policy accepted after gunzip: 64 MiB (a gzip bomb in the bucket is refused). */
export const MAX_POLICY_BYTES = 64 * 1024 * 1024;

/** The subject an entry's MAC is bound to: a sealed bus message can never pass as an entry, nor an entry of another bucket. */
export function entrySubject(bucket: string): string {
  return `<kv>${bucket}.current`;
}

/** Build an entry for `policy` (digest computed here). */
export function newEntry(policy: PolicyDocument, version: number, basedOn: number, pushedBy: string, now = Date.now()): PolicyEntry {
  return { v: 1, version, basedOn, digest: policyDigest(policy), pushedBy, pushedAt: now, policy };
}

/** Bytes to store: gzip(JSON), sealed with the bus key when there is one. */
export function sealEntry(entry: PolicyEntry, bucket: string, auth: BusAuth | null): Uint8Array {
  const payload = gzipSync(Buffer.from(JSON.stringify(entry)));
  return auth === null ? payload : auth.seal(entrySubject(bucket), payload, null, entry.pushedAt);
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Step 1 of opening (cheap, on the event loop): the envelope's MAC, bound to the bucket. */
export function openEnvelope(data: Uint8Array, bucket: string, auth: BusAuth | null): { ok: true; payload: Uint8Array } | { ok: false; reason: EntryRefusal } {
  if (auth === null) return { ok: true, payload: data };
  const o = auth.open(entrySubject(bucket), data, false);
  return o.ok ? { ok: true, payload: o.payload } : { ok: false, reason: o.reason };
}

/** Step 2 (heavy for large policies: gunzip, parse, digest): the entry inside an authentic envelope. */
export function decodeEntry(payload: Uint8Array, memo: CanonicalRouteMemo = lastDigested): { ok: true; entry: PolicyEntry } | { ok: false; reason: EntryRefusal } {
  let text: string;
  try {
    text = gunzipSync(payload, { maxOutputLength: MAX_POLICY_BYTES }).toString('utf8');
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
  return decodeEntryText(text, memo);
}

/** The routes of the entry decoded last on this thread: a version that changes a few routes writes the digest's canonical JSON of only those. */
const lastDigested = new CanonicalRouteMemo();

/** Step 2 after gunzip: parse, shape and digest of the entry's JSON text (`memo`: the routes digested last, default this thread's). */
export function decodeEntryText(text: string, memo: CanonicalRouteMemo = lastDigested): { ok: true; entry: PolicyEntry } | { ok: false; reason: EntryRefusal } {
  let e: Record<string, unknown>;
  try {
    const o: unknown = JSON.parse(text);
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return { ok: false, reason: 'corrupt' };
    e = o as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
  const { version, basedOn, digest, pushedBy, pushedAt, policy } = e;
  if (e.v !== 1 || !isInt(version) || version < 1 || !isInt(basedOn) || typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) return { ok: false, reason: 'corrupt' };
  if (typeof pushedBy !== 'string' || pushedBy.length > 256 || !isInt(pushedAt) || policy === null || typeof policy !== 'object' || Array.isArray(policy)) return { ok: false, reason: 'corrupt' };
  if (policyDigest(policy as PolicyDocument, memo) !== digest) return { ok: false, reason: 'digest_mismatch' };
  return { ok: true, entry: { v: 1, version, basedOn, digest, pushedBy, pushedAt, policy: policy as PolicyDocument } };
}

/** Open stored bytes: authentic (when keyed), decodable, well-formed and matching their digest. */
export function openEntry(data: Uint8Array, bucket: string, auth: BusAuth | null): { ok: true; entry: PolicyEntry } | { ok: false; reason: EntryRefusal } {
  const o = openEnvelope(data, bucket, auth);
  return o.ok ? decodeEntry(o.payload) : o;
}
