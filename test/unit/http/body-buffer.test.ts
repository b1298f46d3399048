// Which request bodies are read whole before the upstream is asked, and the per-process budget they
// share (node/http/body-buffer.ts): the limit is inclusive, unknown lengths stream, the budget is
// taken and given back exactly.
import { describe, expect, it } from 'vitest';
import { bufferedBodyBytes, planBody, releaseBody } from '../../../node/http/body-buffer.js';

const limits = { buffer_request_body_bytes: 1000, buffer_request_body_total_bytes: 2500 };

describe('planBody', () => {
  it('reads whole a body with a length up to the limit (inclusive); unknown, empty and larger ones stream', () => {
    expect(planBody(-1, limits)).toBe('stream');
    expect(planBody(0, limits)).toBe('stream');
    expect(planBody(1001, limits)).toBe('stream');
    expect(bufferedBodyBytes()).toBe(0);
    expect(planBody(1000, limits)).toBe('buffer');
    expect(bufferedBodyBytes()).toBe(1000);
    releaseBody(1000);
    expect(bufferedBodyBytes()).toBe(0);
  });

  it('past the budget a body within the limit overflows (streams) until bytes are given back', () => {
    expect(planBody(1000, limits)).toBe('buffer');
    expect(planBody(1000, limits)).toBe('buffer');
    expect(planBody(501, limits)).toBe('overflow');
    expect(planBody(500, limits)).toBe('buffer'); // exactly the budget
    expect(bufferedBodyBytes()).toBe(2500);
    releaseBody(1000);
    expect(planBody(1000, limits)).toBe('buffer');
    releaseBody(1000); releaseBody(1000); releaseBody(500);
    expect(bufferedBodyBytes()).toBe(0);
  });

  it('0 turns buffering off', () => {
    expect(planBody(1, { buffer_request_body_bytes: 0, buffer_request_body_total_bytes: 2500 })).toBe('stream');
  });
});
