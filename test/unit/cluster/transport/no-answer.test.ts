// Which JetStream failures are asked again (cluster/transport/no-answer.ts): nats.js's errors as it
// builds them from a server's answer. JetStream's own 503 while a leader is elected carries the same
// message ("503") as no responders: only its api_error tells it apart, and it must stay "ask again".
import { describe, expect, it } from 'vitest';
import { checkJsErrorCode } from 'nats/lib/jetstream/jsutil.js';
import { ErrorCode, NatsError } from 'nats/lib/nats-base-client/core.js';
import { jsErrorText, noAnswerYet, noJetStream, noJetStreamMessage, noResponders, StreamNoLeader } from '../../../../cluster/transport/no-answer.js';

/** A JetStream API error answer as nats.js's parseJsResponse turns it into an error. */
function apiError(code: number, errCode: number, description: string): Error {
  const err = checkJsErrorCode(code, description) as NatsError & { api_error?: unknown };
  err.api_error = { code, err_code: errCode, description };
  return err;
}

describe('noJetStream / noAnswerYet', () => {
  it('no responders (nobody subscribes to $JS.API): no JetStream, not asked again', () => {
    const err = NatsError.errorForCode(ErrorCode.NoResponders);
    expect(err.message).toBe('503');
    expect(noJetStream(err)).toBe(true);
    expect(noAnswerYet(err)).toBe(false);
    expect(noJetStreamMessage(err, '127.0.0.1:4222')).toBe('no JetStream server answered through 127.0.0.1:4222 (503, no responders): is JetStream enabled on the NATS servers?');
  });

  it('JetStream not enabled for the account (10039): no JetStream, named so', () => {
    const err = apiError(503, 10039, 'JetStream not enabled for account');
    expect(noJetStream(err)).toBe(true);
    expect(noAnswerYet(err)).toBe(false);
    expect(noJetStreamMessage(err, 'n1:4222')).toMatch(/JetStream not enabled for account \(503\): is JetStream enabled for the NATS account/);
  });

  it('"JetStream system temporarily unavailable" (10008, an election) is asked again, not "no JetStream"', () => {
    const err = apiError(503, 10008, 'JetStream system temporarily unavailable');
    expect(err.message).toBe('503');
    expect(noJetStream(err)).toBe(false);
    expect(noAnswerYet(err)).toBe(true);
  });

  it('a timeout is asked again; a refusal is neither', () => {
    expect(noAnswerYet(NatsError.errorForCode(ErrorCode.Timeout))).toBe(true);
    const refused = apiError(400, 10058, 'stream name already in use with a different configuration');
    expect(noAnswerYet(refused)).toBe(false);
    expect(noJetStream(refused)).toBe(false);
  });

  // before, every 503 answer counted as an election: revoke --config creating its stream waited 20 s, then blamed a quorum
  it('JetStream\'s other 503 answers ("insufficient resources", 10023) are refusals, named by their description', () => {
    const err = apiError(503, 10023, 'insufficient resources');
    expect(err.message).toBe('503');
    expect(noAnswerYet(err)).toBe(false);
    expect(noJetStream(err)).toBe(false);
    expect(noResponders(err)).toBe(false);
    expect(jsErrorText(err)).toBe('insufficient resources (503, err_code 10023)');
  });

  it('no responders: named so as text (the outbox keeps the text), told apart from a JetStream answer and from a wait already over', () => {
    const err = NatsError.errorForCode(ErrorCode.NoResponders);
    expect(jsErrorText(err)).toBe('503, no responders');
    expect(noResponders({ message: jsErrorText(err) })).toBe(true);
    expect(noResponders(apiError(503, 10008, 'JetStream system temporarily unavailable'))).toBe(false);
    const over = new StreamNoLeader('nothing was written: the stream had no leader within 20 s (503, no responders)');
    expect(noResponders(over)).toBe(false);
    expect(noJetStream(over)).toBe(false);
    expect(noAnswerYet(over)).toBe(false);
  });
});
