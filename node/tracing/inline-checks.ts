// How the authenticate span tells a verified-token cache hit from a cache miss checked inline on the
// event loop: both answer synchronously, so the JWT verifier counts its inline checks here and the
// traced stage reads the count around the (synchronous) stage.

/** Signature checks run inline on this thread so far (JwtVerifier increments; trace-stages compares before/after). */
export const inlineChecks = { count: 0 };
