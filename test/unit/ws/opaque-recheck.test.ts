// OpaqueRecheck: connections of introspected principals are checked at most once per RECHECK_MS;
// a refusal ends them once, an outage (PORTCULLIS_ERR_AUTH_UNAVAILABLE) or a failing check does
// not, a check still waiting is not started again, and JWT principals are never tracked.
import { describe, expect, it } from 'vitest';
import { proxyError } from '../../../node/errors.js';
import { CONTINUE, type RequestContext, type StageResult } from '../../../node/pipeline/context.js';
import { OpaqueRecheck, RECHECK_MS } from '../../../node/ws/opaque-recheck.js';

const deny = (code: 'PORTCULLIS_ERR_AUTH_INVALID_TOKEN' | 'PORTCULLIS_ERR_AUTH_UNAVAILABLE'): StageResult => ({ kind: 'deny', error: proxyError(code, 'x'), reason: 'x' });
const conn = (kind: 'jwt' | 'opaque', token: string) => ({ relay: { ctx: { token } as unknown as RequestContext }, principal: { kind } as unknown as RequestContext['principal'] });

describe('OpaqueRecheck', () => {
  it('ends a refused opaque connection once; keeps it through an outage; ignores JWT principals', () => {
    const answers = new Map<string, StageResult>([['a', CONTINUE], ['b', CONTINUE], ['j', deny('PORTCULLIS_ERR_AUTH_INVALID_TOKEN')]]);
    const seen: string[] = [];
    const refused: string[] = [];
    const r = new OpaqueRecheck((ctx) => { seen.push(ctx.token!); expect(ctx.principal).toBeNull(); return answers.get(ctx.token!)!; }, (c) => refused.push(c.relay.ctx.token!));
    const [a, b, j] = [conn('opaque', 'a'), conn('opaque', 'b'), conn('jwt', 'j')];
    for (const c of [a, b, j]) r.add(c);
    r.tick(10_000);
    expect(seen.sort()).toEqual(['a', 'b']);
    r.tick(10_000 + RECHECK_MS - 1); // too soon: nothing checked
    expect(seen).toHaveLength(2);
    answers.set('a', deny('PORTCULLIS_ERR_AUTH_UNAVAILABLE'));
    answers.set('b', deny('PORTCULLIS_ERR_AUTH_INVALID_TOKEN'));
    r.tick(10_000 + RECHECK_MS);
    expect(refused).toEqual(['b']);
    r.tick(10_000 + 2 * RECHECK_MS);
    expect(refused).toEqual(['b']); // b is forgotten, a survived the outage
    expect(seen.filter((t) => t === 'b')).toHaveLength(2);
    expect(seen.filter((t) => t === 'a')).toHaveLength(3);
  });

  it('does not start a second check while one waits; a rejected or throwing check ends nothing', async () => {
    let release: (r: StageResult) => void = () => {};
    let calls = 0;
    const refused: unknown[] = [];
    const r = new OpaqueRecheck(() => { calls++; return new Promise<StageResult>((res) => { release = res; }); }, (c) => refused.push(c));
    const c = conn('opaque', 't');
    r.add(c);
    r.tick(1_000);
    r.tick(1_000 + RECHECK_MS);
    expect(calls).toBe(1);
    release(deny('PORTCULLIS_ERR_AUTH_INVALID_TOKEN'));
    await new Promise((res) => setImmediate(res));
    expect(refused).toEqual([c]);

    const t = new OpaqueRecheck(() => { throw new Error('bug'); }, (x) => refused.push(x));
    t.add(conn('opaque', 'u'));
    t.tick(5_000);
    expect(refused).toHaveLength(1);
  });

  it('a closed connection is not checked or ended any more', () => {
    const refused: unknown[] = [];
    let calls = 0;
    const r = new OpaqueRecheck(() => { calls++; return deny('PORTCULLIS_ERR_AUTH_INVALID_TOKEN'); }, (c) => refused.push(c));
    const c = conn('opaque', 'z');
    r.add(c);
    r.delete(c);
    r.tick(1_000);
    expect([calls, refused.length]).toEqual([0, 0]);
  });
});
