// The log of a stalled consumer's gap reads (stream-gap.ts GapReadLog): a read JetStream refuses with 503
// while it elects a leader fails at every check; the log says what the member waits for, once per streak
// (not every 500 ms), and when the stream is read again.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ErrorCode, NatsError } from 'nats';
import { loggerOptions, type Logger } from '../../../../node/log.js';
import { GAP_LOG_EVERY, GapReadLog } from '../../../../cluster/revocation/stream-gap.js';

function logger(lines: Array<Record<string, unknown>>): Logger {
  return pino(loggerOptions({ level: 'info' }), { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
}

/** The error nats.js throws when JetStream answers 503 (no leader for the stream or the cluster). */
const jetstream503 = (): Error => NatsError.errorForCode(ErrorCode.JetStreamNotEnabled, new Error('jetstream system temporarily unavailable'));

describe('GapReadLog', () => {
  it('a streak of 503s is logged at its first failure and every 20th, saying what the member waits for; its end once', () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = new GapReadLog(logger(lines));
    for (let i = 0; i < 2 * GAP_LOG_EVERY + 3; i++) log.failed(jetstream503(), 4, 6, 500);
    expect(log.failing).toBe(true);
    expect(lines.map((l) => l.attempts)).toEqual([1, GAP_LOG_EVERY, 2 * GAP_LOG_EVERY]);
    for (const l of lines) {
      expect(l.level).toBe(40);
      expect(l).toMatchObject({ err: '503', seq: 4, stream_seq: 6, retry_every_ms: 500 });
      expect(String(l.msg)).toContain('no leader for the stream or its cluster');
      expect(String(l.msg)).toContain('behind the stream until it has read up to stream_seq');
    }
    log.ended(6);
    log.ended(6);
    expect(lines.slice(3)).toEqual([expect.objectContaining({ level: 30, failed_attempts: 2 * GAP_LOG_EVERY + 3, seq: 6, msg: 'revocation stream read again after failed gap reads' })]);
    expect(log.failing).toBe(false);
    // a later streak starts anew; another cause is not called an election
    log.failed(new Error('TIMEOUT'), 9, 12, 6000);
    expect(lines[4]).toMatchObject({ attempts: 1, err: 'TIMEOUT', retry_every_ms: 6000 });
    expect(String(lines[4]!.msg)).toContain('the stream leader did not answer it');
  });

  it('a read that never failed logs nothing', () => {
    const lines: Array<Record<string, unknown>> = [];
    new GapReadLog(logger(lines)).ended(3);
    expect(lines).toEqual([]);
  });
});
