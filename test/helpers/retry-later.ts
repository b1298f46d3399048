// What every front door answers when a request's wait ended at its route's deadline: 503
// `temporarily_unavailable` with `Retry-After: 1` (RFC 6750 error body), never a verdict on the token.
import { expect } from 'vitest';

/** One door's answer: status, its Retry-After header, its body. */
export type DoorAnswer = readonly [status: number, retryAfter: unknown, body: unknown];

/** Each answer is 503 `temporarily_unavailable` with `Retry-After: 1`. */
export function expectRetryLater(answers: readonly DoorAnswer[]): void {
  for (const [status, retryAfter, body] of answers) {
    expect(status).toBe(503);
    expect(retryAfter).toBe('1');
    expect(String(body)).toContain('temporarily_unavailable');
  }
}
