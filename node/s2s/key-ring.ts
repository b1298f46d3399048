// The proxy's own signing keys for internal tokens: loaded from a file (created when
// missing) or generated at start, rotated by publishing the next key before it signs,
// and kept in the JWKS until every token the old key signed has expired.
import { createHash, randomBytes, createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

export type InternalAlg = 'ES256' | 'EdDSA';

/** A public key as published in the JWKS. */
export interface PublicJwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg: InternalAlg;
  readonly use: 'sig';
}

export interface RingKey {
  /** RFC 7638 thumbprint: the same key has the same kid in every process. */
  readonly kid: string;
  readonly alg: InternalAlg;
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM, what the signing worker imports (once per kid). */
  readonly pkcs8: string;
  readonly jwk: PublicJwk;
  /** Epoch ms from which it signs (publication is immediate). */
  readonly signFrom: number;
  /** Epoch ms after which it leaves the JWKS; Infinity while it signs or may sign. */
  retireAt: number;
}

/** Extra time an old key stays published past the last possible exp of its tokens, ms. */
const RETIRE_SLACK_MS = 5_000;
const generateAsync = promisify(generateKeyPair);

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC P-256 or OKP Ed25519 public key. */
export function jwkThumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  // required members only, in lexicographic order, no whitespace
  const canonical = jwk.kty === 'EC'
    ? `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
    : `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}"}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** Throws unless `key` is a private key usable with `alg` (P-256 for ES256, Ed25519 for EdDSA). */
export function checkKeyType(key: KeyObject, alg: InternalAlg, where: string): void {
  if (key.type !== 'private') throw new Error(`${where}: not a private key`);
  const ok = alg === 'ES256'
    ? key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
    : key.asymmetricKeyType === 'ed25519';
  if (!ok) throw new Error(`${where}: a ${key.asymmetricKeyType ?? 'unknown'} key cannot sign ${alg} (needs ${alg === 'ES256' ? 'EC P-256' : 'Ed25519'})`);
  // An EC key's public point is taken as written (a JWK's x/y, a SEC1 PEM's public key), not derived
  // from d: when they disagree, every token it signs fails at the upstream against the published key.
  // One probe signed and verified at load refuses such a key (once per load, not per token).
  let good = false;
  try {
    const probe = Buffer.from('portcullis internal key probe');
    const digest = alg === 'ES256' ? 'sha256' : null;
    good = verify(digest, probe, createPublicKey(key), sign(digest, probe, key));
  } catch { /* a key that cannot sign is no good either */ }
  if (!good) throw new Error(`${where}: the private key does not match its public key (a probe it signed does not verify against the key that would be published)`);
}

/** Build the ring entry for a private key. */
export function ringKey(privateKey: KeyObject, alg: InternalAlg, signFrom: number): RingKey {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y?: string };
  const kid = jwkThumbprint(pub);
  const jwk: PublicJwk = pub.kty === 'EC'
    ? { kty: 'EC', crv: pub.crv, x: pub.x, y: pub.y!, kid, alg, use: 'sig' }
    : { kty: pub.kty, crv: pub.crv, x: pub.x, kid, alg, use: 'sig' };
  const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  return { kid, alg, privateKey, pkcs8, jwk, signFrom, retireAt: Infinity };
}

export function generateKeySync(alg: InternalAlg): KeyObject {
  return alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : generateKeyPairSync('ed25519').privateKey;
}

export async function generateKeyAsync(alg: InternalAlg): Promise<KeyObject> {
  const pair = alg === 'ES256' ? await generateAsync('ec', { namedCurve: 'P-256' }) : await generateAsync('ed25519');
  return pair.privateKey;
}

/** Parse PEM (PKCS#8 or SEC1) or a private JWK (JSON) text. */
export function parsePrivateKey(text: string, where: string): KeyObject {
  try {
    const t = text.trim();
    if (!t.startsWith('{')) return createPrivateKey(t);
    let jwk: unknown;
    // V8's message quotes the text around the error: a piece of the private key
    try { jwk = JSON.parse(t); } catch { throw new Error('a JWK that is not valid JSON'); }
    // node's message quotes the member it refused ("Received 's3cr3t'"): the file may be any JSON secret
    let key: KeyObject;
    try { key = createPrivateKey({ key: jwk as never, format: 'jwk' }); } catch { throw new Error('JSON that is no private JWK (kty RSA, EC or OKP with its members)'); }
    // node derives an OKP key's public half from d and ignores x: a JWK whose x is not d's is refused
    // too (its x may be what was published elsewhere); no member's value is quoted
    const pub = createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>;
    const given = jwk as Record<string, unknown>;
    for (const m of ['x', 'y', 'n', 'e'] as const) {
      if (given[m] !== undefined && given[m] !== pub[m]) throw new Error(`a private JWK whose d does not match its public "${m}"`);
    }
    return key;
  } catch (err) {
    throw new Error(`${where}: not a PEM or JWK private key (${(err as Error).message})`);
  }
}

/**
 * Read the signing key from `file`; when the file does not exist, generate a key and write it
 * (PKCS#8 PEM, mode 0600, exclusive create: concurrent workers end up with the one key written first).
 */
export function loadOrCreateKeyFile(file: string, alg: InternalAlg): { key: KeyObject; created: boolean } {
  const where = `internal_tokens.key_file ${file}`;
  let text: string;
  let created = false;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${where}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    const pem = generateKeySync(alg).export({ format: 'pem', type: 'pkcs8' }) as string;
    // Written whole to a private temporary name, then linked to `file`: link() fails with EEXIST
    // when another worker got there first, and a reader never sees a half-written key (an
    // exclusive create of `file` itself left a window where a racing worker read it empty).
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, pem, { flag: 'wx', mode: 0o600 });
      linkSync(tmp, file);
      created = true;
    } catch (werr) {
      if ((werr as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${where}: cannot create (${(werr as NodeJS.ErrnoException).code ?? String(werr)})`);
    } finally {
      try { unlinkSync(tmp); } catch { /* not created */ }
    }
    text = readFileSync(file, 'utf8'); // what won the race
  }
  const key = parsePrivateKey(text, where);
  checkKeyType(key, alg, where);
  return { key, created };
}

export interface KeyRingOptions {
  alg: InternalAlg;
  /** Longest minted-token lifetime, s: how long a key stays published after it stops signing. */
  maxTtlS: number;
  /** A new key is published this long before it signs, s. */
  publishAheadS: number;
  now?: () => number;
}

/**
 * Ordered keys (oldest first). The signing key is the newest one whose `signFrom` has
 * passed; the JWKS lists every key not yet retired, including the next one.
 */
export class KeyRing {
  #keys: RingKey[] = [];
  #alg: InternalAlg;
  #maxTtlMs: number;
  /** Longest lifetime the keys signing now may have minted with (max_ttl_s lowered by a reload), ms. */
  #signedTtlMs: number;
  #publishAheadMs: number;
  readonly #now: () => number;
  #jwksBody = '{"keys":[]}';
  /** Epoch ms when the published set changes next (a retirement). */
  #jwksValidUntil = Infinity;
  #rotations = 0;
  /** kids revoked here (revocation kind `kid`): never sign or publish again, in this process. */
  readonly #revoked = new Set<string>();
  /** The signing key was revoked with no successor: nothing signs until install(). */
  #halted = false;

  constructor(opts: KeyRingOptions) {
    this.#alg = opts.alg;
    this.#maxTtlMs = opts.maxTtlS * 1000;
    this.#signedTtlMs = this.#maxTtlMs;
    this.#publishAheadMs = opts.publishAheadS * 1000;
    this.#now = opts.now ?? Date.now;
  }

  get alg(): InternalAlg { return this.#alg; }
  get rotations(): number { return this.#rotations; }
  get publishAheadS(): number { return this.#publishAheadMs / 1000; }

  /**
   * New lifetimes (a reload): tokens minted from now on live at most `maxTtlS`. A key stays
   * published until the longest-lived token it signed has expired: a shorter lifetime never
   * retires it sooner; a longer one delays the retirement of a key that still signs until its successor does.
   */
  setTimes(maxTtlS: number, publishAheadS: number): void {
    const ttl = maxTtlS * 1000;
    const now = this.#now();
    for (let i = 0; i < this.#keys.length; i++) {
      const k = this.#keys[i]!;
      if (k.retireAt === Infinity) continue;
      let until = Infinity; // when a later key starts signing, so this one stops
      for (let j = i + 1; j < this.#keys.length; j++) until = Math.min(until, this.#keys[j]!.signFrom);
      if (until > now) k.retireAt = Math.max(k.retireAt, until + ttl + RETIRE_SLACK_MS);
    }
    this.#signedTtlMs = Math.max(this.#signedTtlMs, ttl);
    this.#maxTtlMs = ttl;
    this.#publishAheadMs = publishAheadS * 1000;
    this.#rebuild(now);
  }

  /**
   * Add `key`. The first key signs at once; any later one is published now and signs after
   * publish_ahead_s, when every current signer starts its retirement countdown. The signing (or
   * next) key again = no-op. A key still published but retiring (a key file rolled back) signs
   * again at once — it never left the JWKS — and the keys after it start their countdown.
   */
  install(key: KeyObject, alg: InternalAlg): RingKey | null {
    const now = this.#now();
    const kid = ringKey(key, alg, 0).kid;
    if (this.#revoked.has(kid)) return null;
    const existing = this.#keys.find((k) => k.kid === kid);
    if (existing !== undefined && existing.retireAt === Infinity) return existing;
    // before: a retiring key was returned as is, so the key that replaced it went on signing
    if (existing !== undefined) this.#keys = this.#keys.filter((k) => k !== existing);
    const stillPublished = existing !== undefined && existing.retireAt > now;
    const first = this.#keys.length === 0;
    // after the signing key was revoked nothing signs: the new key signs at once (upstreams refetch the JWKS on its unknown kid)
    const entry = ringKey(key, alg, first || stillPublished || this.#halted ? now : now + this.#publishAheadMs);
    this.#halted = false;
    // the keys signing until entry.signFrom may have minted with a longer lifetime before a reload shortened it
    const signedTtl = Math.max(this.#signedTtlMs, this.#maxTtlMs);
    for (const k of this.#keys) if (k.retireAt === Infinity) k.retireAt = entry.signFrom + signedTtl + RETIRE_SLACK_MS;
    this.#signedTtlMs = this.#maxTtlMs;
    this.#keys.push(entry);
    this.#alg = alg;
    if (!first) this.#rotations++;
    this.#rebuild(now);
    return entry;
  }

  /**
   * Revocation kind `kid` named one of our keys: it leaves the ring (it neither signs nor stays in the
   * JWKS, and install() refuses it from now on). When it was the signing key, the next key published
   * ahead signs at once; without one, nothing signs until install(). False when `kid` is not ours.
   */
  revoke(kid: string): boolean {
    const now = this.#now();
    const k = this.#keys.find((x) => x.kid === kid);
    if (k === undefined || this.#revoked.has(kid)) return false;
    this.#revoked.add(kid);
    const signing = !this.#halted && this.#keys.length > 0 && this.signer(now) === k;
    this.#keys = this.#keys.filter((x) => x !== k);
    if (signing) {
      const next = this.#keys.filter((x) => x.signFrom > now).at(-1);
      if (next === undefined) this.#halted = true;
      else this.#keys = this.#keys.map((x) => (x === next ? { ...x, signFrom: now } : x));
    }
    this.#rebuild(now);
    return true;
  }

  /** True when `kid` was revoked here. */
  isRevoked(kid: string): boolean {
    return this.#revoked.has(kid);
  }

  /** True while the signing key was revoked and no key replaced it. */
  get halted(): boolean { return this.#halted; }

  /** The key that signs now (newest with signFrom ≤ now). Throws when the ring is empty or its signing key was revoked (halted). */
  signer(now = this.#now()): RingKey {
    if (this.#halted) throw new Error('the internal token signing key was revoked');
    for (let i = this.#keys.length - 1; i >= 0; i--) {
      const k = this.#keys[i]!;
      if (k.signFrom <= now) return k;
    }
    if (this.#keys.length === 0) throw new Error('key ring is empty');
    return this.#keys[0]!;
  }

  /** `{"keys":[…]}` of every key not yet retired (the next key included). */
  jwks(now = this.#now()): string {
    if (now >= this.#jwksValidUntil) this.#rebuild(now);
    return this.#jwksBody;
  }

  /** Keys currently published. */
  published(now = this.#now()): readonly RingKey[] {
    if (now >= this.#jwksValidUntil) this.#rebuild(now);
    return this.#keys;
  }

  #rebuild(now: number): void {
    this.#keys = this.#keys.filter((k) => k.retireAt > now);
    this.#jwksBody = JSON.stringify({ keys: this.#keys.map((k) => k.jwk) });
    this.#jwksValidUntil = this.#keys.length === 0 ? Infinity : Math.min(...this.#keys.map((k) => k.retireAt));
  }
}
