// FailureLog: identical introspection failures are written at most once a second, the next line
// counting those left out; different failures are not held back by each other.
import { describe, expect, it } from 'vitest';
import { FailureLog } from '../../../node/introspection/failure-log.js';

describe('FailureLog', () => {
  it('writes the first of identical failures, leaves the rest of the second out and counts them in the next line', () => {
    let t = 0;
    const log = new FailureLog(() => t);
    expect(log.admit('introspection_http_status', 503, 'HTTP 503')).toEqual({ suppressed: 0 });
    for (let i = 0; i < 5; i++) { t += 100; expect(log.admit('introspection_http_status', 503, 'HTTP 503')).toBeNull(); }
    expect(log.admit('introspection_timeout', 0, 'timed out')).toEqual({ suppressed: 0 });
    t = 1_000;
    expect(log.admit('introspection_http_status', 503, 'HTTP 503')).toEqual({ suppressed: 5 });
    expect(log.admit('introspection_http_status', 401, 'HTTP 401')).toEqual({ suppressed: 0 });
  });

  it('says the count no later line carried when flushed (a client closing), once', () => {
    let t = 0;
    const said: unknown[] = [];
    const log = new FailureLog(() => t, (l) => said.push(l));
    log.admit('introspection_timeout', 0, 'timed out');
    for (let i = 0; i < 3; i++) { t += 10; log.admit('introspection_timeout', 0, 'timed out'); }
    log.flush();
    log.flush();
    expect(said).toEqual([{ reason: 'introspection_timeout', status: 0, detail: 'timed out', suppressed: 3 }]);
  });
});
