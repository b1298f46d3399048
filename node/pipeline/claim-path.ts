// Dotted claim paths (`realm_access.roles`, `resource_access."api.billing".roles`) split once at
// config load and resolved against a principal's claims using own properties only (no prototype lookups).
import { splitClaimPath } from '../config/claim-path-syntax.js';

export interface ClaimPath {
  /** As written in the config, e.g. `realm_access.roles`. */
  readonly text: string;
  readonly segments: readonly string[];
}

export function compileClaimPath(text: string): ClaimPath {
  const r = splitClaimPath(text);
  // the schema refuses a path that does not parse; one that still gets here resolves to no claim
  return Object.freeze({ text, segments: Object.freeze('error' in r ? [] : r.segments) });
}

/**
 * The claim at `path`, or undefined. A claim whose own name is the whole path wins over
 * the dotted walk, so namespaced claims like `https://example.com/roles` work as written.
 */
export function resolveClaim(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  if (Object.hasOwn(claims, path.text)) return claims[path.text];
  const seg = path.segments;
  if (seg.length === 0 || (seg.length === 1 && seg[0] === path.text)) return undefined;
  let v: unknown = claims;
  for (let i = 0; i < seg.length; i++) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg[i]!)) return undefined;
    v = (v as Record<string, unknown>)[seg[i]!];
  }
  return v;
}

/** `token` is one of the space-separated words of `s` (how `scope` strings are read). */
export function containsWord(s: string, token: string): boolean {
  if (token.length === 0) return false;
  let from = 0;
  for (;;) {
    const i = s.indexOf(token, from);
    if (i === -1) return false;
    const end = i + token.length;
    if ((i === 0 || s.charCodeAt(i - 1) === 0x20) && (end === s.length || s.charCodeAt(end) === 0x20)) return true;
    from = i + 1;
  }
}

/** An array claim holds `value`, or a string claim has it as a space-separated word. */
export function claimHas(claim: unknown, value: string | number): boolean {
  if (Array.isArray(claim)) return claim.includes(value);
  return typeof claim === 'string' && typeof value === 'string' && containsWord(claim, value);
}
