// Which NATS / JetStream failures mean "no answer yet" — a leader being elected, a server that
// holds its sockets but answers nothing — as opposed to a refusal: the first is worth asking again.
// And no JetStream behind the server reached, told apart from a stream publish nobody took (no leader).
import type { NatsConnection } from 'nats';

/** JetStream's own error codes for "not enabled": for the account (10039), on the server (10076). */
const NOT_ENABLED = new Set([10039, 10076]);
/** JetStream's error code for "JetStream system temporarily unavailable" (503): a leader being elected. */
const ELECTING = new Set([10008]);
/** What JetStream's answers (or nats.js's) say while a leader is elected or a replica is unreachable. */
const NO_LEADER_TEXT = /TIMEOUT|temporarily unavailable|no leader|offline/i;
/** `StreamNoLeader`'s code. */
const NO_LEADER_CODE = 'PORTCULLIS_STREAM_NO_LEADER';

type JsError = { code?: unknown; message?: unknown; api_error?: { code?: unknown; err_code?: unknown; description?: unknown } | null };

/**
 * True for nats.js's error for a request nobody subscribes to (503, no responders; no JetStream
 * answer inside). On a JetStream API request that means no JetStream (`noJetStream`); on a publish to
 * a stream's subjects it also means the stream has no leader at the moment (only its leader
 * subscribes to them: for ~5 s after its server died), or no stream takes them.
 */
export function noResponders(err: unknown): boolean {
  const e = err as JsError;
  if (e?.api_error !== undefined && e.api_error !== null) return false;
  if (e?.code === NO_LEADER_CODE) return false;
  const m = String(e?.message ?? '');
  return m === '503' || /no responders/i.test(m);
}

/**
 * True when no JetStream serves this connection — for a JetStream API request: nats.js's no responders
 * (every JetStream server answers its API, so this is no election), or JetStream's answer that it is
 * not enabled for the account. JetStream's other 503 answers ("temporarily unavailable" while a leader
 * is elected, "insufficient resources") are not this. Not for a publish: see `noResponders`.
 */
export function noJetStream(err: unknown): boolean {
  const e = err as JsError;
  if (e?.api_error !== undefined && e.api_error !== null) return NOT_ENABLED.has(Number(e.api_error.err_code));
  return noResponders(err);
}

/** What to tell a user when `noJetStream(err)`: `through` is the server the connection reached. */
export function noJetStreamMessage(err: unknown, through: string): string {
  const api = (err as JsError)?.api_error;
  if (api !== undefined && api !== null) return `JetStream answered through ${through}: ${String(api.description ?? 'not enabled')} (503): is JetStream enabled for the NATS account cluster.nats logs in to?`;
  return `no JetStream server answered through ${through} (503, no responders): is JetStream enabled on the NATS servers?`;
}

/**
 * True for an error a leader election or an unreachable server explains: a request timeout,
 * JetStream's "temporarily unavailable" (503, 10008), a stream or cluster with no leader, offline.
 * False when `noJetStream` (asking again would wait for nothing), for JetStream's other answers —
 * 503 "insufficient resources" (10023) included: before, every 503 answer was waited on for 20 s and
 * then blamed on a quorum — and for a `StreamNoLeader` (its wait is over).
 */
export function noAnswerYet(err: unknown): boolean {
  if (noJetStream(err)) return false;
  const e = err as JsError;
  if (e?.code === NO_LEADER_CODE) return false;
  if (e?.api_error !== undefined && e.api_error !== null) return ELECTING.has(Number(e.api_error.err_code)) || NO_LEADER_TEXT.test(String(e.api_error.description ?? ''));
  return e?.code === 'TIMEOUT' || NO_LEADER_TEXT.test(String(e?.message ?? ''));
}

/**
 * The error as a user should read it: JetStream's own description with its status and code (nats.js
 * makes the message of every 503 answer "503"), "503, no responders", else its message.
 */
export function jsErrorText(err: unknown): string {
  const e = err as JsError;
  const api = e?.api_error;
  if (api !== undefined && api !== null) return `${String(api.description ?? e?.message ?? 'JetStream error')} (${String(api.code ?? '?')}, err_code ${String(api.err_code ?? '?')})`;
  if (noResponders(err)) return '503, no responders';
  return String(e?.message ?? err);
}

/** A publish to a stream nobody took (no responders) for as long as its caller waits for a leader: nothing was stored. */
export class StreamNoLeader extends Error {
  readonly code = NO_LEADER_CODE;
}

/**
 * After a publish met no responders: the JetStream error that says no JetStream serves `nc` (ask
 * `$JS.API.INFO`: no responders, or not enabled for the account), else null — JetStream answered, or
 * its meta leader did not answer in time (an election too): the stream's leader is being elected.
 */
export async function jetStreamMissing(nc: NatsConnection, timeoutMs = 2_000): Promise<unknown> {
  try {
    await nc.jetstreamManager({ timeout: timeoutMs });
    return null;
  } catch (err) {
    return noJetStream(err) ? err : null;
  }
}
