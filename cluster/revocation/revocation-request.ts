// Validation of a revocation request (admin `POST /revocations` body, the revoke CLI)
// into a complete record: every problem reported with the field it concerns, expiry
// derived from `exp`, `before` and the maximum token lifetime. Records from the bus and
// the stream pass the same time rules (checkRevocationRecord).
import { randomUUID } from 'node:crypto';
import { REVOCATION_KINDS, type RevocationKind } from '../protocol/subjects.js';
import { isCutKind, type RevocationRecord } from '../protocol/messages.js';
import { parseTime } from './revocation-time.js';
import { carriesCompactToken, CUT_AHEAD_S, isCompactToken } from '../../node/contracts/index.js';

/** What a caller may send. Times are epoch seconds, ISO 8601 or `now`. */
export interface RevocationRequest {
  readonly kind: RevocationKind;
  readonly value: string;
  /** Only tokens with this `iss` claim (not for kind `token`). */
  readonly issuer?: string | null;
  /** `sub`/`client_id`/`sub_without_sid`: revoke tokens issued up to and including this second (default: now). */
  readonly before?: number | string;
  /** When the revoked token(s) expire, if known: the entry is dropped after it. */
  readonly exp?: number | string;
  readonly reason?: string;
}

/** Clock, limits and identity for building a record. */
export interface BuildContext {
  readonly nowMs: number;
  /** Maximum token lifetime, seconds: how long an entry lives when `exp` is unknown. */
  readonly maxLifetimeS: number;
  /** Member (or `cli:<host>`) creating it. */
  readonly origin: string;
  readonly id?: string;
  /**
   * The `issuer` values of the configured issuers (the current config or cluster policy): an
   * `issuer` outside them is refused, as it matches no token the proxy accepts. Undefined: not
   * checked (a record from the bus, an identity-provider event, a CLI without the policy).
   */
  readonly knownIssuers?: readonly string[] | undefined;
  /**
   * The largest `clock_skew_s` of the configured issuers, s (default 0): a token is accepted that long
   * after its `exp`, so an `exp` up to that far in the past still names a token worth revoking.
   */
  readonly skewS?: number | undefined;
  /**
   * The value was read from a claim of a verified identity-provider event (back-channel logout `sid`/`sub`, an SSF
   * subject): tokens carry it as it is, whatever its shape, so it is not refused as a raw token pasted by an operator.
   */
  readonly valueFromEvent?: boolean | undefined;
}

/** A complete record, or every problem found. */
export type BuildResult = { readonly ok: true; readonly record: RevocationRecord } | { readonly ok: false; readonly errors: readonly string[] };

/** Clock skew allowed between hosts for `before`, seconds (the cut an identity-provider event may carry ahead, too). */
export const SKEW_S = CUT_AHEAD_S;
const FIELDS = ['kind', 'value', 'issuer', 'before', 'exp', 'reason'] as const;
const KINDS: ReadonlySet<string> = new Set(REVOCATION_KINDS);
const HEX64 = /^[0-9a-fA-F]{64}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A space or tab at either end: no token with such a sub, client_id, jti, sid or iss is accepted (token-facts.ts), so it would revoke nothing. */
const OWS_END = /^[ \t]|[ \t]$/;
/**
 * An unpaired UTF-16 surrogate (JSON's `"\ud800"`): no token whose sub, client, jti, sid or iss holds one is
 * accepted (token-facts.ts), and the bus writes strings as UTF-8, so other members would read another value
 * (msgpackr: `alice\ud800` arrives as `alice` and three U+FFFD) — a revocation no two members agree on.
 */
const LONE_SURROGATE = /\p{Cs}/u;
const SURROGATE_MESSAGE = 'a lone UTF-16 surrogate (not well-formed Unicode): no token with one is accepted, and other members would read another value (the bus carries UTF-8)';

/** Check `input` completely (all problems at once) and build the record to publish. */
export function buildRevocation(input: unknown, ctx: BuildContext): BuildResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, errors: ['body: expected a JSON object { kind, value, before?, exp?, issuer?, reason? }'] };
  const o = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const k of Object.keys(o)) if (!(FIELDS as readonly string[]).includes(k)) errors.push(`${k}: unknown field (expected ${FIELDS.join(', ')})`);
  const nowS = Math.floor(ctx.nowMs / 1000);
  const kind = typeof o.kind === 'string' && KINDS.has(o.kind) ? (o.kind as RevocationKind) : null;
  if (kind === null) errors.push(`kind: expected one of ${REVOCATION_KINDS.join(', ')}${o.kind === undefined ? '' : `, got ${shownKind(o.kind)}`}`);

  let value = typeof o.value === 'string' ? o.value : null;
  if (value === null || value === '') errors.push('value: expected a non-empty string');
  else if (value.length > 1024) errors.push('value: longer than 1024 characters');
  else if (CONTROL.test(value)) errors.push('value: contains control characters');
  else if (LONE_SURROGATE.test(value)) errors.push(`value: ${SURROGATE_MESSAGE}`);
  else if (kind !== 'kid' && OWS_END.test(value)) errors.push(`value: a space or tab at an end; no token whose ${kind ?? 'claim'} has one is accepted, so it would revoke nothing`);
  else if (kind === 'token') {
    if (!HEX64.test(value)) errors.push('value: for kind "token", the SHA-256 of the token as 64 hex characters (raw tokens are not accepted; `portcullis revoke --token` hashes locally)');
    else value = value.toLowerCase();
  } else if (ctx.valueFromEvent !== true && isCompactToken(value)) {
    // stored as written it went to the stream, every member, GET /revocations and the snapshot — and revoked nothing;
    // an identity provider's sid/sub is exempt: a JWS-shaped session handle is what its tokens carry (refused, the logout revoked nothing)
    errors.push(`value: a raw token (JWS/JWE), not a ${kind ?? 'claim value'}; not stored — revoke the token itself as kind "token" by its SHA-256 (\`portcullis revoke --token\` hashes locally)`);
  }

  let issuer: string | null = null;
  if (o.issuer !== undefined && o.issuer !== null) {
    if (typeof o.issuer !== 'string' || o.issuer === '' || o.issuer.length > 1024 || CONTROL.test(o.issuer)) errors.push('issuer: expected a non-empty string (the token\'s iss)');
    else if (OWS_END.test(o.issuer)) errors.push('issuer: a space or tab at an end; a token\'s iss is compared exactly, so it would revoke nothing');
    else if (LONE_SURROGATE.test(o.issuer)) errors.push(`issuer: ${SURROGATE_MESSAGE}`);
    else if (kind === 'token') errors.push('issuer: not used with kind "token" (the hash identifies the token)');
    else if (ctx.knownIssuers !== undefined && !ctx.knownIssuers.includes(o.issuer)) errors.push(unknownIssuer(o.issuer, ctx.knownIssuers));
    else issuer = o.issuer;
  }

  let before: number | null = null;
  const takesBefore = kind !== null && isCutKind(kind);
  if (o.before !== undefined && o.before !== null) {
    if (kind !== null && !takesBefore) errors.push(`before: only for kinds sub, client_id and sub_without_sid, not "${kind}"`);
    else if (typeof o.before !== 'string' && typeof o.before !== 'number') errors.push('before: expected epoch seconds, ISO 8601 or "now"');
    else {
      const t = parseTime(o.before, ctx.nowMs);
      const future = t.ok ? beforeProblem(t.seconds, nowS) : null;
      if (!t.ok) errors.push(`before: ${t.message}`);
      else if (future !== null) errors.push(future);
      else before = t.seconds;
    }
  } else if (takesBefore) {
    before = nowS;
  }

  const cap = expiryCap(nowS, ctx.maxLifetimeS);
  let expiresAt = takesBefore && before !== null ? Math.min(before + ctx.maxLifetimeS, cap) : nowS + ctx.maxLifetimeS;
  if (o.exp !== undefined && o.exp !== null) {
    if (typeof o.exp !== 'string' && typeof o.exp !== 'number') errors.push('exp: expected epoch seconds or ISO 8601');
    else {
      const t = parseTime(o.exp, ctx.nowMs);
      if (!t.ok) errors.push(`exp: ${t.message}`);
      else if (t.seconds + (ctx.skewS ?? 0) <= nowS) errors.push(`exp: in the past${ctx.skewS ? ` by more than the issuers' clock skew (${ctx.skewS} s)` : ''}; an expired token is refused anyway, nothing to revoke (leave exp out to keep the entry max_token_lifetime_s)`);
      else expiresAt = Math.min(t.seconds, cap);
    }
  }

  let reason: string | null = null;
  if (o.reason !== undefined && o.reason !== null) {
    if (typeof o.reason !== 'string' || o.reason.length > 512) errors.push('reason: expected a string of at most 512 characters');
    else if (carriesCompactToken(o.reason)) errors.push('reason: carries a raw token (JWS/JWE); not stored — say what happened, the revocation names the token');
    else reason = o.reason;
  }

  if (errors.length > 0 || kind === null || value === null) return { ok: false, errors };
  return {
    ok: true,
    record: { id: ctx.id ?? randomUUID(), kind, value, issuer, before, expiresAt, reason, createdAt: ctx.nowMs, origin: ctx.origin },
  };
}

/**
 * A wrong `kind` as a message may show it: a short name as written, anything else by its type and
 * size — quoting it whole echoed a token pasted there, and a deeply nested array overflowed the stack (500).
 */
function shownKind(k: unknown): string {
  if (typeof k === 'string') return /^[\w-]{0,32}$/.test(k) ? JSON.stringify(k) : `a string of ${k.length} characters (not shown)`;
  return Array.isArray(k) ? 'an array' : k === null ? 'null' : `a ${typeof k}`;
}

/** The admin rule for `before`: not in the future beyond the clock skew (a revocation covers tokens already issued). Null when fine. */
function beforeProblem(beforeS: number, nowS: number): string | null {
  return beforeS > nowS + SKEW_S ? 'before: in the future; a revocation covers tokens already issued' : null;
}

/** Latest `expiresAt` any revocation made at `nowS` may carry: the maximum token lifetime plus the skew. */
function expiryCap(nowS: number, maxLifetimeS: number): number {
  return nowS + maxLifetimeS + SKEW_S;
}

/** A bus record after the admin rules: refused with the problems, or accepted (`capped` when its expiry was cut to the cap). */
export type RecordCheck =
  | { readonly ok: true; readonly record: RevocationRecord; readonly capped: boolean }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * The admin API's time rules applied to a record that arrived on the bus or from the stream,
 * judged at `nowMs` = when it was signed (the stream replays old ones legitimately): `before`
 * and `createdAt` not in the future beyond the skew; `expiresAt` capped at the maximum token
 * lifetime past that moment, as the admin API caps `exp`. Field shapes and sizes were checked by the codec.
 */
export function checkRevocationRecord(r: RevocationRecord, ctx: { readonly nowMs: number; readonly maxLifetimeS: number }): RecordCheck {
  const nowS = Math.floor(ctx.nowMs / 1000);
  const errors: string[] = [];
  if (r.before !== null) {
    const p = beforeProblem(r.before, nowS);
    if (p !== null) errors.push(p);
  }
  if (r.createdAt > ctx.nowMs + SKEW_S * 1000) errors.push('createdAt: in the future');
  if (errors.length > 0) return { ok: false, errors };
  const cap = expiryCap(nowS, ctx.maxLifetimeS);
  return r.expiresAt > cap ? { ok: true, record: { ...r, expiresAt: cap }, capped: true } : { ok: true, record: r, capped: false };
}

/** The refusal of an `issuer` no configured issuer has: it names the value and the configured ones. */
function unknownIssuer(issuer: string, known: readonly string[]): string {
  const list = known.length === 0 ? 'none is configured' : `configured: ${known.slice(0, 20).map((i) => JSON.stringify(i)).join(', ')}${known.length > 20 ? ', …' : ''}`;
  return `issuer: ${JSON.stringify(issuer.slice(0, 256))} is the iss of no configured issuer (${list}); a token's iss is compared exactly, so it would revoke nothing`;
}

/** The `iss` values a config accepts tokens from (`issuers.*.issuer`): what a revocation's `issuer` may name. */
export function configuredIssuers(config: { readonly issuers?: Readonly<Record<string, { readonly issuer: string }>> | undefined }): string[] {
  return Object.values(config.issuers ?? {}).map((i) => i.issuer);
}
