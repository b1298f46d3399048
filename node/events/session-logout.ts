// A session logout that also names the user: besides the session (`sid`), the user's tokens that carry no
// `sid` claim at all (Auth0's and Okta's access tokens) up to the logout's cut — nothing ties them to another
// session, so they go too (fail closed); the user's tokens of other sessions stay valid. Also publishes the
// further users an `aliases` subject names (ssf-mapping.ts) under ids derived from the event's.
import type { PublishOutcome, RevocationInput, RevocationPublisher } from '../contracts/index.js';

/** The companion of session revocation `session` whose event also named user `sub`: `sub`'s tokens without a `sid`, issued up to `before` (epoch s). */
export function sessionlessCut(session: RevocationInput, sub: string, before: number): RevocationInput {
  return { kind: 'sub_without_sid', value: sub, issuer: session.issuer, before, reason: session.reason };
}

/** The companion's revocation id: derived from the event's, so a resent event is idempotent for both. */
export function companionId(id: string): string {
  return `${id}-nosid`;
}

/** The id of an `aliases` subject's `n`th further user's revocation (n from 1): derived from the event's too. */
export function aliasId(id: string, n: number): string {
  return `${id}-alias${n}`;
}

/**
 * Publish `input` under `id`, its companion (null: none) first under companionId(id), and before both each of
 * `also` under aliasId(id, n). A refused one publishes nothing more and is the answer: the event is refused and
 * `id` stays unknown, so the identity provider's resend (or the next poll) retries all. `persisted` is false when
 * any waits in the outbox.
 */
export async function publishWithCompanion(publisher: RevocationPublisher, input: RevocationInput, companion: RevocationInput | null, id: string, also: readonly RevocationInput[] = []): Promise<PublishOutcome> {
  let waiting = false;
  for (let i = 0; i < also.length; i++) {
    const one = await publisher.publish(also[i]!, aliasId(id, i + 1));
    if (!one.ok) return one;
    if (one.persisted === false) waiting = true;
  }
  if (companion !== null) {
    const first = await publisher.publish(companion, companionId(id));
    if (!first.ok) return first;
    if (first.persisted === false) waiting = true;
  }
  const out = await publisher.publish(input, id);
  if (!out.ok || !waiting) return out;
  return { ok: true, id: out.id, persisted: false };
}
