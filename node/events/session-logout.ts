// A session logout that also names the user: besides the session (`sid`), the user's tokens that carry no
// `sid` claim at all (Auth0's and Okta's access tokens) up to the logout's cut — nothing ties them to another
// session, so they go too (fail closed); the user's tokens of other sessions stay valid.
import type { PublishOutcome, RevocationInput, RevocationPublisher } from '../contracts/index.js';

/** The companion of session revocation `session` whose event also named user `sub`: `sub`'s tokens without a `sid`, issued up to `before` (epoch s). */
export function sessionlessCut(session: RevocationInput, sub: string, before: number): RevocationInput {
  return { kind: 'sub_without_sid', value: sub, issuer: session.issuer, before, reason: session.reason };
}

/** The companion's revocation id: derived from the event's, so a resent event is idempotent for both. */
export function companionId(id: string): string {
  return `${id}-nosid`;
}

/**
 * Publish `input` under `id`, its companion (null: none) first under companionId(id). A refused companion
 * publishes nothing more and is the answer: the event is refused and `id` stays unknown, so the identity
 * provider's resend (or the next poll) retries both. `persisted` is false when either waits in the outbox.
 */
export async function publishWithCompanion(publisher: RevocationPublisher, input: RevocationInput, companion: RevocationInput | null, id: string): Promise<PublishOutcome> {
  if (companion === null) return publisher.publish(input, id);
  const first = await publisher.publish(companion, companionId(id));
  if (!first.ok) return first;
  const out = await publisher.publish(input, id);
  if (!out.ok || first.persisted !== false) return out;
  return { ok: true, id: out.id, persisted: false };
}
