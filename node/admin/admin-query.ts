// The query string of an admin call, read strictly: each parameter the endpoint takes at most once,
// nothing else. A misspelt `?knd=sub` or a repeated `?kind=` must not silently widen an answer (it
// would list every revocation as if it were the filtered few); the caller gets a 400 naming it.
import { shownName } from '../config/index.js';

export type AdminQuery =
  | { readonly ok: true; get(name: string): string | null }
  | { readonly ok: false; readonly status: 400; readonly body: { error: 'invalid_request'; message: string; errors: string[] } };

/**
 * The parameters of `url` among `names` (each `get` null when absent). An unknown parameter or one
 * given twice is an error naming it — its name only when it looks like a parameter word (never a
 * value: a token pasted into the URL stays out of the answer). Failure: none (an error result).
 */
export function adminQuery(url: string | undefined, names: readonly string[]): AdminQuery {
  const q = new URL(url ?? '/', 'http://admin').searchParams;
  const errors: string[] = [];
  const seen = new Set<string>();
  let unknown = 0;
  for (const name of q.keys()) {
    if (!names.includes(name)) {
      const shown = shownName(name);
      errors.push(shown !== undefined ? `${shown}: unknown parameter (expected ${names.join(', ')})` : `(parameter #${++unknown} not shown: it may be a secret): unknown parameter (expected ${names.join(', ')})`);
    } else if (seen.has(name)) {
      if (!errors.includes(`${name}: given more than once`)) errors.push(`${name}: given more than once`);
    }
    seen.add(name);
  }
  if (errors.length > 0) return { ok: false, status: 400, body: { error: 'invalid_request', message: errors.join('; '), errors } };
  return { ok: true, get: (name) => q.get(name) };
}
