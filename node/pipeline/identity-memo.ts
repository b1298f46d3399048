// The identity headers a cached principal gets on a route, remembered per (principal, compiled
// mutation): a warm token's claims are resolved and checked once, not on every request. Owns the
// direct-mapped memo only; what the headers are is mutate.ts's identityPairs.
import type { Principal } from './context.js';

/** Memo slots per process (a power of two). */
export const IDENTITY_MEMO_SLOTS = 1024;

/**
 * Flat name/value pairs per (principal, mutation), by slot. A slot answers only for the very
 * principal object and the very compiled mutation that produced it (identity compares), both frozen:
 * the pairs are a pure function of them, so a hit gives exactly what computing them again gives. A
 * reload compiles new mutations (a miss); a revoked or expired token is refused before mutate runs.
 * A principal is remembered from its second miss in a row at its slot (a token seen once is not
 * kept alive by the memo); at most SLOTS principals are held, each until its slot is reused.
 */
export class IdentityMemo {
  readonly #principals: Array<Principal | null> = new Array<Principal | null>(IDENTITY_MEMO_SLOTS).fill(null);
  readonly #mutations: Array<object | null> = new Array<object | null>(IDENTITY_MEMO_SLOTS).fill(null);
  readonly #pairs: Array<readonly string[]> = new Array<readonly string[]>(IDENTITY_MEMO_SLOTS).fill([]);
  /** Per slot, a tag of the fingerprint that missed there last (off the JS heap: a one-off token is not held). */
  readonly #seen = new Int32Array(IDENTITY_MEMO_SLOTS);

  /** `compute(p, mutation)` for `p` under `mutation`, remembered as above. */
  pairs<M extends object>(p: Principal, mutation: M, compute: (p: Principal, m: M) => string[]): readonly string[] {
    const f = p.fingerprint;
    const i = (nibble(f, 0) | (nibble(f, 1) << 4) | (nibble(f, 2) << 8)) & (IDENTITY_MEMO_SLOTS - 1);
    if (this.#principals[i] === p && this.#mutations[i] === mutation) return this.#pairs[i]!;
    const pairs = compute(p, mutation);
    if (!Object.isFrozen(p) || !Object.isFrozen(p.claims)) return pairs;
    // 1 + 24 bits of the fingerprint: never 0, the empty slot's tag
    const tag = 1 | (nibble(f, 3) << 1) | (nibble(f, 4) << 5) | (nibble(f, 5) << 9) | (nibble(f, 6) << 13) | (nibble(f, 7) << 17) | (nibble(f, 8) << 21);
    if (this.#seen[i] === tag) {
      this.#principals[i] = p;
      this.#mutations[i] = mutation;
      this.#pairs[i] = Object.freeze(pairs);
    } else {
      this.#seen[i] = tag;
    }
    return pairs;
  }
}

/** The hex digit at `i` of a fingerprint (lower-case hex of SHA-256: spread evenly); 0 past its end. */
function nibble(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 97 ? (c - 87) & 15 : c >= 48 ? (c - 48) & 15 : 0;
}
