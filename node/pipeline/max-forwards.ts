// Max-Forwards on OPTIONS and TRACE (RFC 9110 §7.6.2): the proxy lowers the count by one on the
// way upstream, and at zero forwards nothing, answering itself. Other methods pass it unchanged.

/** The methods Max-Forwards applies to. */
export function countsHops(method: string): boolean {
  return method === 'OPTIONS' || method === 'TRACE';
}

/**
 * The hop count of `values` (the Max-Forwards lines of one request, in order): a single line of
 * 1–15 digits, else null (absent, a list, two lines, not a number: forwarded unchanged, as sent).
 */
export function hopCount(values: readonly string[]): number | null {
  if (values.length !== 1) return null;
  const v = values[0]!.trim();
  return /^\d{1,15}$/.test(v) ? Number(v) : null;
}

/** The Max-Forwards lines of a flat [name, value…] header list (lower-case names). */
export function maxForwardsLines(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'max-forwards') out.push(headers[i + 1]!);
  return out;
}
