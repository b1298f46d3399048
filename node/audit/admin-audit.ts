// What the audit record of one admin API call says: the action, who (the presented admin
// token's fingerprint and the client address), the outcome from the answer, and the safe
// detail of its request and answer (never a token, a policy's content or a config's values).
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AuditActor, AuditRecord } from './audit-log.js';
import { carriesCompactToken, isCompactToken, rawPathWithoutTokens } from '../contracts/index.js';

/** First 8 bytes of SHA-256, hex: the only form a token or credential takes in an audit line. */
export const fingerprint = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/**
 * The actor of an admin call; `authorized`: the token matched the admin token, `'metrics'`: it
 * matched the read-only metrics token (admin.metrics_token_env).
 */
export function adminActor(req: IncomingMessage, authorized: boolean | 'metrics'): AuditActor {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const token = m === null ? null : fingerprint(m[1]!);
  const address = req.socket.remoteAddress ?? '';
  if (token === null) return { kind: 'unauthenticated', token, address };
  if (authorized === 'metrics') return { kind: 'metrics_token', token, address };
  return authorized ? { kind: 'admin_token', token, address } : { kind: 'unauthenticated', token, address };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
function json(text: string): Record<string, unknown> | null {
  try { const v: unknown = JSON.parse(text); return isObject(v) ? v : null; } catch { return null; }
}

/** Revocation kinds whose values are identifiers, not credentials (`token` values are hashes of one). */
const PLAIN_KINDS: ReadonlySet<string> = new Set(['jti', 'sub', 'client_id', 'kid', 'sid', 'sub_without_sid']);

/** A `before` as an operator writes a time (ISO 8601, epoch seconds, `now`): no token looks like one. */
const TIME_LIKE = /^(now|[0-9][0-9T:.+\-Z ]{0,39})$/i;

/** `text` with each of `secrets` (as written and as JSON quotes it) replaced by its fingerprint. */
function scrub(text: string, secrets: readonly string[]): string {
  for (const s of secrets) {
    if (s.length < 8) continue; // no credential is that short; scrubbing "a" would garble the message
    const mark = `[fingerprint ${fingerprint(s)}]`;
    text = text.split(JSON.stringify(s).slice(1, -1)).join(mark).split(s).join(mark);
  }
  return text;
}

/** The action name of an admin route: `POST /revocations` → `revocation.add`. */
const ACTIONS: Readonly<Record<string, string>> = {
  'POST /reload': 'config.reload',
  'POST /revocations': 'revocation.add',
  'POST /policy': 'policy.push',
  'POST /explain': 'explain',
};

/** The action an admin call is audited as, or null for reads (GET) that change nothing. */
export function auditedAction(method: string, path: string): string | null {
  if (method === 'GET' || method === 'HEAD') return null;
  return ACTIONS[`${method} ${path}`] ?? `admin ${method} ${path}`;
}

/** Detail of the request and answer, per action; fields that could carry a secret become fingerprints. */
export function adminDetail(action: string, reqBody: string, status: number, resBody: unknown, url: string): Record<string, unknown> {
  const res = isObject(resBody) ? resBody : {};
  switch (action) {
    case 'config.reload': {
      const errors = Array.isArray(res.errors) ? res.errors : [];
      return errors.length === 0 ? {} : { errors: errors.length, error_paths: errors.map((e) => (isObject(e) ? e.path : null)).slice(0, 20) };
    }
    case 'revocation.add': {
      const b = json(reqBody) ?? {};
      const r = isObject(res.revocation) ? res.revocation : {};
      // only the kinds whose values are identifiers are kept as written: a token, or a value under a
      // mistyped or missing kind (an operator pasting a raw token), is named by fingerprint
      // and so is a raw token pasted under a right kind (refused: revocation-request.ts)
      const plain = typeof b.kind === 'string' && PLAIN_KINDS.has(b.kind) && !(typeof b.value === 'string' && isCompactToken(b.value));
      const value = typeof b.value === 'string' ? (plain ? { value: b.value.slice(0, 256) } : { value_fingerprint: fingerprint(b.value) }) : {};
      // so is any other field that is not what it should be (a kind that is none, an issuer of a refused
      // call, a before that is no time): a token pasted there was written as is, and quoted by the message
      const hidden: string[] = [];
      const field = (name: string, v: unknown, asWritten: boolean): Record<string, unknown> => {
        if (v === undefined || v === null) return name === 'kind' ? { kind: null } : {};
        if (asWritten) return { [name]: v };
        if (typeof v !== 'string') return { [`${name}_type`]: Array.isArray(v) ? 'array' : typeof v };
        hidden.push(v);
        return { [`${name}_fingerprint`]: fingerprint(v) };
      };
      const written = {
        ...field('kind', b.kind, typeof b.kind === 'string' && (plain || b.kind === 'token')),
        ...value,
        ...field('issuer', b.issuer, typeof b.issuer === 'string' && status < 300),
        ...field('before', b.before, typeof b.before === 'number' || (typeof b.before === 'string' && TIME_LIKE.test(b.before))),
      };
      return {
        ...written,
        ...(typeof b.reason === 'string' ? (carriesCompactToken(b.reason) ? { reason_fingerprint: fingerprint(b.reason) } : { reason: b.reason.slice(0, 256) }) : {}), ...(r.id !== undefined ? { id: r.id } : {}),
        ...(res.stream_seq !== undefined ? { stream_seq: res.stream_seq } : {}), ...(typeof res.message === 'string' && status >= 400 ? { message: scrub(res.message, hidden).slice(0, 512) } : {}),
      };
    }
    case 'policy.push': {
      const q = new URL(url, 'http://admin').searchParams;
      return {
        body_sha256: createHash('sha256').update(reqBody).digest('hex'), body_bytes: Buffer.byteLength(reqBody),
        ...(q.get('base') !== null ? { base: q.get('base') } : {}), ...(q.get('force') === '1' ? { force: true } : {}),
        ...(res.digest !== undefined ? { digest: res.digest } : {}), ...(res.based_on !== undefined ? { based_on: res.based_on } : {}),
        ...(Array.isArray(res.errors) ? { errors: res.errors.length } : {}), ...(typeof res.message === 'string' ? { message: res.message.slice(0, 512) } : {}),
      };
    }
    case 'explain': {
      const b = json(reqBody) ?? {};
      return {
        // the query is never recorded: an explained request may carry its token there (?access_token=)
        // a method that is no HTTP method, or a host that is no host name, may be a pasted token (and a host was kept whole, up to 1 MiB)
        ...(typeof b.method === 'string' && !/^[A-Za-z]{1,16}$/.test(b.method) ? { method_fingerprint: fingerprint(b.method) } : { method: typeof b.method === 'string' ? b.method : null }),
        path: typeof b.path === 'string' ? rawPathWithoutTokens(b.path.split(/[?#]/)[0]!).slice(0, 512) : null, // nor a fragment (#access_token=), nor a JWT in a segment
        ...(typeof b.host === 'string' ? (/^[\w.:\[\]-]{1,256}$/.test(b.host) ? { host: b.host } : { host_fingerprint: fingerprint(b.host) }) : {}),
        ...(typeof b.token === 'string' ? { token: fingerprint(b.token) } : {}), ...(res.verdict !== undefined ? { verdict: res.verdict } : res.allowed !== undefined ? { allowed: res.allowed } : {}),
      };
    }
    default:
      return {};
  }
}

/** The outcome of an answer's status. */
export function outcomeOf(status: number): AuditRecord['outcome'] {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status < 400) return 'ok';
  return status >= 500 && status !== 507 ? 'failed' : 'refused';
}

/** The record of a reload that did not come through the admin API (SIGHUP, `--watch`). */
export function reloadRecord(actor: AuditActor, beforeVersion: number, result: { ok: true; version: number } | { ok: false; errors?: readonly unknown[] }): AuditRecord {
  return result.ok
    ? { action: 'config.reload', actor, outcome: 'ok', before: { config_version: beforeVersion }, after: { config_version: result.version } }
    : {
      action: 'config.reload', actor, outcome: 'refused', before: { config_version: beforeVersion }, after: { config_version: beforeVersion },
      detail: { errors: result.errors?.length ?? 0, error_paths: (result.errors ?? []).map((e) => (isObject(e) ? e.path : null)).slice(0, 20) },
    };
}

/** A revocation as the bus delivers it (cluster/protocol's RevocationRecord, the fields the audit names). */
export interface AppliedRevocation {
  readonly id: string;
  readonly kind: string;
  readonly value: string;
  readonly issuer: string | null;
  readonly before: number | null;
  readonly expiresAt: number;
  readonly reason: string | null;
  readonly createdAt: number;
  readonly origin: string;
}

/** The record of a revocation made at another member and applied here. */
export function appliedRevocationRecord(r: AppliedRevocation): AuditRecord {
  return {
    action: 'revocation.applied', actor: { kind: 'member', origin: r.origin }, outcome: 'ok',
    detail: {
      id: r.id, kind: r.kind, ...(r.kind === 'token' ? { value_fingerprint: fingerprint(r.value) } : { value: r.value }),
      ...(r.issuer !== null ? { issuer: r.issuer } : {}), ...(r.before !== null ? { before: r.before } : {}), ...(r.reason !== null ? { reason: r.reason } : {}),
      expires_at: r.expiresAt, created_at: new Date(r.createdAt).toISOString(),
    },
  };
}

/** A cluster policy version as its bucket entry names it (cluster/policy's CheckedEntry, the fields the audit keeps). */
export interface AppliedPolicyVersion {
  readonly version: number;
  readonly basedOn: number;
  readonly digest: string;
  readonly pushedBy: string;
  readonly pushedAt: number;
}

/**
 * The record of a cluster policy version this process applied or could not apply. Every member
 * writes it, whoever pushed and however (the CLI writes to the bucket without any admin API):
 * the audit trail of a push is the set of these lines, one per member.
 */
export function appliedPolicyRecord(e: AppliedPolicyVersion, before: number | null, result: { ok: true } | { ok: false; errors: readonly unknown[] }): AuditRecord {
  const base = {
    action: 'policy.applied', actor: { kind: 'policy_pusher', by: e.pushedBy } as const,
    before: { policy_version: before }, detail: { digest: e.digest, based_on: e.basedOn, pushed_at: new Date(e.pushedAt).toISOString() },
  };
  return result.ok
    ? { ...base, outcome: 'ok', after: { policy_version: e.version } }
    : { ...base, outcome: 'refused', after: { policy_version: before }, detail: { ...base.detail, refused_version: e.version, errors: result.errors.length, error_paths: result.errors.map((x) => (isObject(x) ? x.path : null)).slice(0, 20) } };
}
