// Which NATS / JetStream failures mean "no answer yet" — a leader being elected, a server that
// holds its sockets but answers nothing — as opposed to a refusal: the first is worth asking again.

/**
 * True for an error a leader election or an unreachable server explains: a request timeout, no
 * responders (503), JetStream "temporarily unavailable", a stream or cluster with no leader, offline.
 */
export function noAnswerYet(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'TIMEOUT' || e?.code === '503' || /TIMEOUT|no responders|temporarily unavailable|no leader|offline/i.test(String(e?.message ?? ''));
}
