// The access line built as one string (node/http/access-line.ts) is byte for byte the line pino
// writes for the same fields, through the process logger's own options (redaction of `token`
// included) — for any value: quotes, backslashes, control characters, lone surrogates, long strings.
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { accessFields, accessLineWriter, type AccessLineSource } from '../../../node/http/access-line.js';
import { loggerOptions, type Logger } from '../../../node/log.js';

/** A logger as the proxy makes it (node/log.ts options, a child with a component) writing into `lines`, with a fixed time. */
function logger(lines: string[], level = 'info'): Logger {
  const sink = { write: (s: string) => { lines.push(s); } };
  return pino({ ...loggerOptions({ level }), timestamp: () => ',"time":1700000000000' }, sink).child({ component: 'http' });
}

const str = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 120 }), fc.constantFrom('a"b', 'c\\d', 'e\nf', '\ud800', 'x'.repeat(150) + '"'));
const num = fc.oneof(fc.integer({ min: -5, max: 1e9 }), fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0));
const source = fc.record({
  route: str, method: str, path: str, remote: str, client: fc.option(str, { nil: undefined }), policy: str, outcome: str,
  status: num, upstreamMs: num, bytesIn: num, bytesOut: num,
  trace: fc.option(fc.record({ traceId: str, spanId: str })),
  deny: fc.option(str),
  who: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('token' as const), token: str }),
    fc.record({ kind: fc.constant('principal' as const), sub: fc.oneof(str, fc.constant(undefined), fc.integer(), fc.constant({ a: 1 })), fingerprint: str }),
  ),
});

type Source = typeof source extends fc.Arbitrary<infer T> ? T : never;

function relayOf(s: Source): AccessLineSource {
  return {
    ctx: {
      route: { name: s.route } as AccessLineSource['ctx']['route'], method: s.method, path: s.path, remoteAddress: s.remote, client: s.client,
      trace: s.trace as AccessLineSource['ctx']['trace'], denyReason: s.deny,
      principal: s.who.kind === 'principal' ? { claims: { sub: s.who.sub }, fingerprint: s.who.fingerprint } as unknown as AccessLineSource['ctx']['principal'] : null,
      token: s.who.kind === 'token' ? s.who.token : null,
    },
    status: s.status, outcome: s.outcome, upstreamMs: s.upstreamMs, bytesIn: s.bytesIn, bytesOut: s.bytesOut, snap: { policyLabel: s.policy },
  };
}

describe('access line', () => {
  it('is the line pino writes for the same fields, for any values', () => {
    fc.assert(fc.property(source, fc.option(str), fc.oneof(num, fc.double({ min: 0, max: 1e4 })), (s, reason, ms) => {
      const mine: string[] = [], theirs: string[] = [];
      const relay = relayOf(s);
      accessLineWriter(logger(mine))(relay, reason, ms);
      logger(theirs).info(accessFields(relay, reason, ms), 'request');
      expect(mine).toEqual(theirs);
    }), { numRuns: 2000 });
  });

  it('writes nothing when the level is above info, and follows a level changed later', () => {
    const lines: string[] = [];
    const l = logger(lines, 'warn');
    const write = accessLineWriter(l);
    const relay = relayOf({ route: 'api', method: 'GET', path: '/', remote: '127.0.0.1', client: undefined, policy: 'v1', outcome: 'complete', status: 200, upstreamMs: 1, bytesIn: 0, bytesOut: 2, trace: null, deny: null, who: { kind: 'none' } });
    write(relay, null, 1);
    expect(lines).toEqual([]);
    l.level = 'info';
    write(relay, null, 1);
    expect(lines.map((x) => JSON.parse(x) as unknown)).toEqual([expect.objectContaining({ msg: 'request', route: 'api', status: 200, component: 'http' })]);
  });
});
