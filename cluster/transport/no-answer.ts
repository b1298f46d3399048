// Which NATS / JetStream failures mean "no answer yet" — a leader being elected, a server that
// holds its sockets but answers nothing — as opposed to a refusal: the first is worth asking again.
// And the one that means neither: no JetStream behind the server reached, for this account.

/** JetStream's own error codes for "not enabled": for the account (10039), on the server (10076). */
const NOT_ENABLED = new Set([10039, 10076]);

/**
 * True when no JetStream serves this connection: nats.js's error for a JetStream API request nobody
 * subscribes to (its message is the status alone, "503", or names no responders — every JetStream
 * server answers its API, so this is no election), or JetStream's answer that it is not enabled for
 * the account. JetStream's other 503 answers ("temporarily unavailable" while a leader is elected)
 * are not this.
 */
export function noJetStream(err: unknown): boolean {
  const e = err as { message?: unknown; api_error?: { err_code?: unknown } | null };
  if (e?.api_error !== undefined && e.api_error !== null) return NOT_ENABLED.has(Number(e.api_error.err_code));
  const m = String(e?.message ?? '');
  return m === '503' || /no responders/i.test(m);
}

/** What to tell a user when `noJetStream(err)`: `through` is the server the connection reached. */
export function noJetStreamMessage(err: unknown, through: string): string {
  const api = (err as { api_error?: { description?: unknown } | null })?.api_error;
  if (api !== undefined && api !== null) return `JetStream answered through ${through}: ${String(api.description ?? 'not enabled')} (503): is JetStream enabled for the NATS account cluster.nats logs in to?`;
  return `no JetStream server answered through ${through} (503, no responders): is JetStream enabled on the NATS servers?`;
}

/**
 * True for an error a leader election or an unreachable server explains: a request timeout,
 * JetStream's "temporarily unavailable" (503), a stream or cluster with no leader, offline.
 * False when `noJetStream` (asking again would wait for nothing).
 */
export function noAnswerYet(err: unknown): boolean {
  if (noJetStream(err)) return false;
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'TIMEOUT' || e?.code === '503' || /TIMEOUT|temporarily unavailable|no leader|offline/i.test(String(e?.message ?? ''));
}
