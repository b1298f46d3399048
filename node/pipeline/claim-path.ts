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
 * What resolveClaim answers when a claim named by the whole path (`realm_access.roles`) and the nested
 * claim the dots name (`realm_access` → `roles`) are both present and differ: the issuer and an upstream
 * reading the token (Keycloak adapters, Spring) mean the nested one, the literal key is often a custom
 * attribute. An object that passes only `exists: true`: every other test, role and scope fails, and an
 * identity header leaves it out (an object is never forwarded). Frozen; compared by identity.
 */
export const AMBIGUOUS_CLAIM: Readonly<Record<string, never>> = Object.freeze({});

/**
 * The claim at `path`, or undefined. A claim whose own name is the whole path wins over
 * the dotted walk, so namespaced claims like `https://example.com/roles` work as written —
 * unless the walk finds another value there too: then AMBIGUOUS_CLAIM (fail closed).
 */
export function resolveClaim(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  const seg = path.segments;
  if (Object.hasOwn(claims, path.text)) {
    const literal = claims[path.text];
    if (seg.length < 2) return literal;
    const nested = walk(claims, seg);
    return nested === undefined || sameClaim(literal, nested) ? literal : AMBIGUOUS_CLAIM;
  }
  if (seg.length === 0 || (seg.length === 1 && seg[0] === path.text)) return undefined;
  return walk(claims, seg);
}

/** The nested claim at `seg` (own properties only, never into arrays), or undefined. */
function walk(claims: Readonly<Record<string, unknown>>, seg: readonly string[]): unknown {
  let v: unknown = claims;
  for (let i = 0; i < seg.length; i++) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg[i]!)) return undefined;
    v = (v as Record<string, unknown>)[seg[i]!];
  }
  return v;
}

/** Equal primitives, or arrays of equal primitives in the same order; objects never (they are never forwarded). */
function sameClaim(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

/**
 * An array claim holds `value`, or a string claim has it as a space-separated word. A value with a
 * space is never one word: in `"Domain Admins"` a string claim names the roles `Domain` and `Admins`,
 * so `roles.any: ["Domain Admins"]` passes only an array element (before, the two words passed as one).
 */
export function claimHas(claim: unknown, value: string | number): boolean {
  if (Array.isArray(claim)) return claim.includes(value);
  return typeof claim === 'string' && typeof value === 'string' && value.indexOf(' ') === -1 && containsWord(claim, value);
}
