// Server nonces for DPoP proofs (RFC 9449 §9), stateless: a nonce is the time bucket and
// an HMAC of it, so every instance holding the same secret issues and accepts the same
// nonces with no shared state. The current and the previous bucket's nonce are accepted.
import { createHmac, randomBytes } from 'node:crypto';

/** Shortest accepted secret, bytes (HMAC-SHA-256 keys below 32 bytes weaken it). */
export const MIN_NONCE_SECRET_BYTES = 32;

/** Issues and checks nonces; one per DPoP stage, rebuilt when the settings change. */
export class NonceSource {
  private bucket = -1;
  private currentNonce = '';
  private previousNonce = '';

  /**
   * `secret`: shared by every instance of a cluster (else a nonce from one instance is refused
   * by the others); `lifetimeS`: length of a bucket, so a nonce lives between 1 and 2 lifetimes.
   */
  constructor(private readonly secret: Buffer, private readonly lifetimeS: number) {
    if (secret.length < MIN_NONCE_SECRET_BYTES) throw new Error(`DPoP nonce secret must be at least ${MIN_NONCE_SECRET_BYTES} bytes`);
  }

  /** A source with a random secret: fine for one process, not for a cluster. */
  static random(lifetimeS: number): NonceSource {
    return new NonceSource(randomBytes(32), lifetimeS);
  }

  /** The nonce to hand out now (`DPoP-Nonce` header). */
  current(nowS: number): string {
    this.roll(nowS);
    return this.currentNonce;
  }

  /** True for the current or the previous bucket's nonce. Nonces are public: no constant-time need. */
  accepts(nonce: unknown, nowS: number): boolean {
    if (typeof nonce !== 'string') return false;
    this.roll(nowS);
    return nonce === this.currentNonce || nonce === this.previousNonce;
  }

  /** True for exactly the current bucket's nonce (an accepted previous one is about to expire). */
  isCurrent(nonce: unknown, nowS: number): boolean {
    this.roll(nowS);
    return nonce === this.currentNonce;
  }

  private roll(nowS: number): void {
    const b = Math.floor(nowS / this.lifetimeS);
    if (b === this.bucket) return;
    this.previousNonce = b - 1 === this.bucket ? this.currentNonce : this.make(b - 1);
    this.currentNonce = this.make(b);
    this.bucket = b;
  }

  private make(bucket: number): string {
    const id = bucket.toString(36);
    return `${id}.${createHmac('sha256', this.secret).update(`dpop-nonce:${id}`).digest().subarray(0, 18).toString('base64url')}`;
  }
}
