// Where a raw token sits in the two direct-mapped token memos (extract's b64token memo and the
// verifier's digest memo) and the admission tag a slot keeps: one definition, so both memos agree
// slot for slot (the digest memo matches the b64token memo's string instance by identity).

/** Memo slots per process in each token memo (a power of two). */
export const TOKEN_MEMO_SLOTS = 1024;

/**
 * The memo slot of a token of length `n`: four characters before the last — a base64url
 * signature's last character carries only 2–4 bits. A token shorter than 9 characters reads NaN
 * characters: slot 0 and tag 0 (admitted at its first sighting; a hit still needs the whole string).
 */
export function tokenSlot(v: string, n: number): number {
  return ((((v.charCodeAt(n - 2) * 31 + v.charCodeAt(n - 3)) * 31 + v.charCodeAt(n - 4)) * 31 + v.charCodeAt(n - 5)) | 0) & (TOKEN_MEMO_SLOTS - 1);
}

/**
 * A second look at a token beside its slot (its length and four other characters): what a slot
 * remembers of the last token that missed there, so a token is admitted on its second sighting in
 * a row. Collisions only admit a token one sighting early; a hit still needs the whole string equal.
 */
export function admissionTag(v: string, n: number): number {
  return (((((n * 31 + v.charCodeAt(n - 6)) * 31 + v.charCodeAt(n - 7)) * 31 + v.charCodeAt(n - 8)) * 31 + v.charCodeAt(n - 9)) | 0);
}
