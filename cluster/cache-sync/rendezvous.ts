// Rendezvous (highest-random-weight) hashing: which live member owns a token key. Every
// member computes the same owner from the same member list, and when a member leaves
// only the keys it owned move (to each key's runner-up), so leases elsewhere stand.

/** murmur3's 32-bit finaliser: a bijection with full avalanche. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 units. */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const HEX64 = /^[0-9a-f]{64}$/;
const memberHashes = new Map<string, number>();

function memberHash(id: string): number {
  let h = memberHashes.get(id);
  if (h === undefined) {
    if (memberHashes.size >= 4_096) memberHashes.clear(); // ids churn with restarts; keep it bounded
    h = fnv1a32(id);
    memberHashes.set(id, h);
  }
  return h;
}

/** Two 32-bit words of a key: its first 16 hex digits when it is a SHA-256 hex, else a hash of it. */
function keyWords(key: string): [number, number] {
  if (HEX64.test(key)) return [parseInt(key.slice(0, 8), 16), parseInt(key.slice(8, 16), 16)];
  const h = fnv1a32(key);
  return [h, fmix32(h ^ 0x9e3779b9)];
}

/**
 * The owner of `key` among `members` (ties, practically never, go to the smaller id).
 * Null for an empty list. Cost: one hash per member, no allocation beyond the key words.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | null {
  if (members.length === 0) return null;
  const [k0, k1] = keyWords(key);
  let best: string | null = null;
  let bestScore = -1;
  for (const m of members) {
    const s = fmix32(fmix32(memberHash(m) ^ k0) ^ k1);
    if (s > bestScore || (s === bestScore && best !== null && m < best)) { best = m; bestScore = s; }
  }
  return best;
}
