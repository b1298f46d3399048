// RFC 6750 §2.1 b64token check for extract, with a direct-mapped memo of recent tokens that passed
// it (from their second pass): a token that repeats (a client reusing its access token) is compared
// instead of re-scanned, and the memo's own string instance is handed on, so the verifier's digest
// memo (node/jwt/token-digest.ts) matches it by identity instead of comparing ~1 KB again.

import { TOKEN_MEMO_SLOTS as SLOTS, admissionTag, tokenSlot } from './token-slot.js';

/** RFC 6750 §2.1 b64token. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Longest token kept, characters (bounds the memo at 4 MiB); longer ones are checked every time. */
const MAX_CHARS = 4096;

const proven: Array<string | null> = new Array<string | null>(SLOTS).fill(null);
/**
 * Per slot, the tag (token-slot.ts) of the
 * last token checked there: a token is remembered on its second check in a row, so distinct tokens
 * seen once are not held until their slot is reused (live at scavenges, copied and promoted).
 */
const seen = new Int32Array(SLOTS);

/** A cut-out this much longer than its token is copied before the memo keeps it (see b64token). */
const SOURCE_SLACK = 64;

/**
 * `v` if it is a b64token — the memo's equal string when one is remembered (same characters,
 * another instance) — else null. Only strings that passed the regex enter the memo and a hit
 * needs full string equality, so the answer is always the regex's. ~190 ns on a hit against
 * ~500 ns for the regex over a ~950-character token (measured, sliced strings as extract makes them).
 * `sourceLength`: the length of the string `v` was cut from (V8 keeps a slice's whole source
 * alive): a token cut from a much longer one (a Cookie header, a query, padding) is remembered as
 * a copy of its own characters, so every slot holds at most MAX_CHARS + SOURCE_SLACK characters —
 * and so does the verifier's digest memo, which keeps the instance handed on here.
 */
export function b64token(v: string, sourceLength: number): string | null {
  const n = v.length;
  if (n > MAX_CHARS) return B64TOKEN.test(v) ? v : null;
  const i = tokenSlot(v, n);
  const known = proven[i];
  if (known === v) return known;
  if (!B64TOKEN.test(v)) return null;
  // a b64token is ASCII: the latin1 round trip copies it exactly (handed on either way: the digest
  // memo may admit this instance even when this memo does not)
  const kept = sourceLength > n + SOURCE_SLACK ? Buffer.from(v, 'latin1').toString('latin1') : v;
  const tag = admissionTag(v, n);
  if (seen[i] === tag) proven[i] = kept; else seen[i] = tag;
  return kept;
}
