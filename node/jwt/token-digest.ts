// The token cache's key: SHA-256 hex of the raw token, with a small direct-mapped memo of recent
// tokens in front, so a token that repeats (a client reusing its access token) skips the hash.
// The memo maps a raw token to its digest only — no verdict — and matches by full string equality;
// a token enters it on its second miss in a row at its slot, so a token seen once is not kept.
import { hash } from 'node:crypto';
import { TOKEN_MEMO_SLOTS, admissionTag, tokenSlot } from '../pipeline/token-slot.js';

/** Memo slots per process (a power of two): the same slots as extract's b64token memo. */
export const DIGEST_MEMO_SLOTS = TOKEN_MEMO_SLOTS;
/** Longest token kept in the memo, characters: bounds the memo at SLOTS × this (4 MiB); longer tokens are hashed every time. */
export const DIGEST_MEMO_MAX_CHARS = 4096;

/**
 * SHA-256 hex digests of tokens, memoised per slot. `of(token)` returns exactly
 * `hash('sha256', token, 'hex')`: a slot's digest is returned only for the very token string that
 * produced it (compared in full), so two tokens sharing a slot evict each other and never share a
 * digest. Cost on a hit: a slot index from four characters and one string compare (~40 ns against
 * ~700 ns for the hash of a ~950-character token, measured); on a miss, that plus the hash. Raw tokens
 * stay in process memory until their slot is reused (at most SLOTS of them), never logged or sent.
 */
export class TokenDigests {
  readonly #tokens: Array<string | null> = new Array<string | null>(DIGEST_MEMO_SLOTS).fill(null);
  readonly #digests: string[] = new Array<string>(DIGEST_MEMO_SLOTS).fill('');
  /**
   * Per slot, the admission tag of the last token that missed there. A token is remembered on its
   * second miss in a row: with distinct tokens (each seen once) no token string is held for the
   * ~SLOTS requests until its slot is reused — live at a scavenge, copied and promoted — and a
   * one-off token does not displace a remembered one. Off the JS heap.
   */
  readonly #seen = new Int32Array(DIGEST_MEMO_SLOTS);
  /** Memo hits and misses since start (tests, diagnosis). */
  hits = 0;
  misses = 0;

  /** The lower-case hex SHA-256 of `token` (a memo hit or a fresh hash). Never throws for a string. */
  of(token: string): string {
    const n = token.length;
    if (n > DIGEST_MEMO_MAX_CHARS) return hash('sha256', token, 'hex');
    const i = tokenSlot(token, n);
    if (this.#tokens[i] === token) {
      this.hits++;
      return this.#digests[i]!;
    }
    this.misses++;
    const digest = hash('sha256', token, 'hex');
    const tag = admissionTag(token, n);
    if (this.#seen[i] === tag) {
      this.#tokens[i] = token;
      this.#digests[i] = digest;
    } else {
      this.#seen[i] = tag;
    }
    return digest;
  }

  /** Forget every remembered token (the verifier's close). */
  clear(): void {
    this.#tokens.fill(null);
    this.#digests.fill('');
    this.#seen.fill(0);
  }
}
