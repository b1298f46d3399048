// Which request bodies are read whole before the upstream is asked, and the per-process budget they
// share (node/http/body-buffer.ts): the limit is inclusive, unknown lengths stream, the budget is
// taken and given back exactly, and one client key holds at most its share (an eighth, at least one body).
import { describe, expect, it } from 'vitest';
import { bufferedBodyBytes, bufferingClients, clientShare, planBody, releaseBody } from '../../../node/http/body-buffer.js';

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
    expect(planBody(1000, limits, 'a')).toBe('buffer');
    expect(planBody(1000, limits, 'b')).toBe('buffer');
    expect(planBody(501, limits, 'c')).toBe('overflow');
    expect(planBody(500, limits, 'c')).toBe('buffer'); // exactly the budget
    expect(bufferedBodyBytes()).toBe(2500);
    releaseBody(1000, 'a');
    expect(planBody(1000, limits, 'd')).toBe('buffer');
    releaseBody(1000, 'b'); releaseBody(1000, 'd'); releaseBody(500, 'c');
    expect(bufferedBodyBytes()).toBe(0);
    expect(bufferingClients()).toBe(0);
  });

  it('0 turns buffering off', () => {
    expect(planBody(1, { buffer_request_body_bytes: 0, buffer_request_body_total_bytes: 2500 })).toBe('stream');
  });

  it('one client holds at most max(buffer_request_body_bytes, total / 8); its next body is a `share` overflow, others still buffer', () => {
    const big = { buffer_request_body_bytes: 100, buffer_request_body_total_bytes: 8000 };
    expect(clientShare(big)).toBe(1000);
    expect(clientShare(limits)).toBe(1000); // never less than one body
    for (let i = 0; i < 10; i++) expect(planBody(100, big, 'greedy')).toBe('buffer');
    expect(planBody(1, big, 'greedy')).toBe('share');
    expect(planBody(100, big, 'other')).toBe('buffer');
    expect(bufferedBodyBytes()).toBe(1100);
    releaseBody(100, 'greedy');
    expect(planBody(100, big, 'greedy')).toBe('buffer');
    for (let i = 0; i < 10; i++) releaseBody(100, 'greedy');
    releaseBody(100, 'other');
    expect(bufferedBodyBytes()).toBe(0);
    expect(bufferingClients()).toBe(0);
  });
});
