// Admin API handlers: `POST /revocations` (JSON `{ kind, value, before?, exp?, issuer?,
// reason? }` → 201 with the entry and the issuers it reaches, 400 naming every bad field, 507 when the store is at
// its bound) and `GET /revocations` (live entries, optional `?kind=` and `?limit=`, nothing else). An `issuer`
// must be one the member's current config (cluster policy) configures.
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { adminQuery } from '../../node/admin/admin-query.js';
import type { RevocationRecord } from '../protocol/messages.js';
import { REVOCATION_KINDS, type RevocationKind } from '../protocol/subjects.js';
import type { RevocationActor } from './revocation-actor.js';
import type { RevocationStore } from './revocation-store.js';

/** The JSON shape of one entry in admin answers (times: epoch seconds, `created_at` ISO 8601). */
export function revocationJson(r: RevocationRecord): Record<string, unknown> {
  return {
    id: r.id, kind: r.kind, value: r.value, issuer: r.issuer, before: r.before,
    expires_at: r.expiresAt, reason: r.reason, created_at: new Date(r.createdAt).toISOString(), origin: r.origin,
  };
}

/**
 * The configured `iss` values whose tokens `r` can match: its own `issuer`, or — without one — every configured
 * issuer (a `sub` `alice` is each tenant's `alice`); null for a `token` revocation (one token, whoever issued it)
 * or when the member's issuers are unknown.
 */
export function issuersReached(r: Pick<RevocationRecord, 'kind' | 'issuer'>, known: readonly string[] | undefined): string[] | null {
  if (r.kind === 'token') return null;
  if (r.issuer !== null) return [r.issuer];
  return known === undefined ? null : [...new Set(known)];
}

const bad = (message: string, errors?: readonly string[]): { status: number; body: unknown } =>
  ({ status: 400, body: { error: 'invalid_request', message, ...(errors === undefined ? {} : { errors }) } });

/** Both routes, keyed as the AdminServer expects; `knownIssuers` (read per call): the current config's `issuers.*.issuer`, unchecked when absent. */
export function revocationAdminRoutes(actor: RevocationActor, store: RevocationStore, knownIssuers?: () => readonly string[]): Record<string, AdminHandler> {
  return {
    'POST /revocations': async (_req, body) => {
      let input: unknown;
      try {
        input = JSON.parse(body);
      } catch {
        // not V8's message: it quotes the text around the error, a piece of a raw token pasted unquoted
        return bad('body: not valid JSON');
      }
      const out = await actor.add(input, undefined, knownIssuers?.());
      // 507: the request is fine, the store's bound is not (cluster.revocation.max_entries / max_bytes)
      if (!out.ok && out.full === true) return { status: 507, body: { error: 'revocation_store_full', message: out.errors.join('; '), errors: out.errors } };
      if (!out.ok) return bad(out.errors.join('; '), out.errors);
      return { status: 201, body: { revocation: revocationJson(out.record), persisted: out.persisted, stream_seq: out.streamSeq, issuers_reached: issuersReached(out.record, knownIssuers?.()) } };
    },
    'GET /revocations': async (req) => {
      const q = adminQuery(req.url, ['kind', 'limit']);
      if (!q.ok) return { status: q.status, body: q.body };
      const kind = q.get('kind');
      if (kind !== null && !(REVOCATION_KINDS as readonly string[]).includes(kind)) return bad(`kind: expected one of ${REVOCATION_KINDS.join(', ')}`);
      const limitText = q.get('limit');
      // digits only: Number() also reads 1e2, 0x10 and ' 5 '
      const limit = limitText === null ? 1_000 : /^\d{1,6}$/.test(limitText) ? Number(limitText) : NaN;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) return bad('limit: expected an integer from 1 to 100000');
      const all = store.list(kind === null ? undefined : (kind as RevocationKind));
      return { status: 200, body: { total: all.length, count: Math.min(limit, all.length), entries: all.slice(-limit).map(revocationJson) } };
    },
  };
}
