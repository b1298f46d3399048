// Whether a transmitter's `delivery.endpoint_url` names the URL we configured: compared as URLs
// (RFC 3986 §6.2.2/§6.2.3 normalisation as WHATWG URL does it), query parameters as a multiset;
// anything else — unparsable, other userinfo, path or fragment — is a mismatch (fail closed).

/**
 * True when `a` and `b` name the same endpoint: scheme and host compared case-insensitively, the
 * scheme's default port spelled or not, the same path (after dot-segment removal), the same
 * userinfo and fragment, and the same query parameters in any order (each `name=value` segment
 * exactly as written, counted: `a=1&a=1` is not `a=1`). An unparsable URL matches nothing.
 */
export function sameEndpointUrl(a: string, b: string): boolean {
  if (a === b) return true;
  let x: URL, y: URL;
  try { x = new URL(a); y = new URL(b); } catch { return false; }
  if (x.protocol !== y.protocol || x.username !== y.username || x.password !== y.password
    || x.host !== y.host || x.pathname !== y.pathname || x.hash !== y.hash) return false;
  return sameSegments(x.search, y.search);
}

/** The query strings' `&`-separated segments as multisets (raw: `+` and `%20` differ, as servers may treat them). */
function sameSegments(p: string, q: string): boolean {
  if (p === q) return true;
  const xs = p.slice(1).split('&').sort();
  const ys = q.slice(1).split('&').sort();
  return xs.length === ys.length && xs.every((s, i) => s === ys[i]);
}
