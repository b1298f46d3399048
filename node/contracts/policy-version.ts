// The cluster policy version a proxy instance enforces, as cluster/policy hands it to the
// instance with each applied version: it names the snapshot in the access log and in
// `X-Portcullis-Policy` (node/pipeline/policy-label.ts).

/** One applied cluster policy version (`portcullis policy push`). */
export interface PolicyVersion {
  /** 1, 2, 3… as pushed. */
  readonly version: number;
  /** SHA-256 hex of the canonical policy (node/config/policy-split.ts policyDigest). */
  readonly digest: string;
}
