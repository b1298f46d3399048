// How long a revocation outlives its expiry, derived from the issuers' clock skews: a token is
// accepted until its `exp` plus its issuer's `clock_skew_s`, so every copy of a revocation (the
// store, the snapshot, the stream) must last at least twice the largest skew past its expiry.

/** The floor of the skew the linger is derived from, s: the default `clock_skew_s`, and the `before` skew between hosts. */
export const MIN_SKEW_S = 60;
/** The schema's bound on `issuers.*.clock_skew_s`, s: the longest skew any config or policy version can raise to. */
export const MAX_SKEW_S = 600;
/** The linger of a config whose issuers all use at most the default skew: 120 s. */
export const DEFAULT_LINGER_S = 2 * MIN_SKEW_S;
/** The longest linger any config can ask for: 1200 s (20 min). */
export const MAX_LINGER_S = 2 * MAX_SKEW_S;

/** The part of a config the linger is read from (a validated Config, or any object with its issuers). */
export interface SkewSource {
  readonly issuers?: Readonly<Record<string, { readonly clock_skew_s?: number | undefined }>> | undefined;
}

/**
 * Seconds an entry stays past its `expiresAt` under `config`: twice the largest `clock_skew_s` of
 * its issuers, at least twice 60 s — a token is accepted until `exp` + skew, and one revoked at T
 * may carry an `iat` up to the skew ahead of T. A skew outside 0…600 (not from a validated config) counts as 600.
 */
export function lingerFor(config: SkewSource | null | undefined): number {
  let skew = MIN_SKEW_S;
  for (const i of Object.values(config?.issuers ?? {})) {
    const s = i.clock_skew_s;
    if (s === undefined) continue;
    skew = Math.max(skew, Number.isFinite(s) && s >= 0 && s <= MAX_SKEW_S ? s : MAX_SKEW_S);
  }
  return 2 * skew;
}
