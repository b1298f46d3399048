// The Windows/IIS and old-Spring readings of a routed path: each segment without the dots and
// spaces those upstreams drop at its edges. Used by the route table to check that such a
// reading selects the same route as the path as written (server.paths.upstream_readings).

const SPACE = '%20'; // a normalised path carries a space only as this escape (a raw one is refused)

/**
 * `path` (normalised) read with trailing dots of each segment dropped (`dots`: Windows file
 * names, `v.` is `v`) and/or spaces at either end of a segment dropped (`spaces`: IIS drops
 * trailing ones, Spring's AntPathMatcher with trimTokens — the default before Spring 4.3 —
 * trims both ends and then ignores the emptied segment, so `/%20/admin` is `/admin`). With
 * both, dots and spaces go in any mix (`v.%20.` is `v`). Returns null when trimming spaces
 * turns a segment into `.` or `..` (`..%20`): one reader resolves it, another does not, so the
 * path has no single reading (→ 400). The path itself when nothing changes.
 */
export function trimSegments(path: string, dots: boolean, spaces: boolean): string | null {
  let out = '';
  let from = 0;
  let changed = false;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 47) continue;
    let start = from, end = i;
    let spaced = false;
    if (spaces) while (end - start >= 3 && path.startsWith(SPACE, start)) { start += 3; spaced = true; }
    for (;;) {
      if (dots && end > start && path.charCodeAt(end - 1) === 46) { end--; continue; }
      if (spaces && end - start >= 3 && path.startsWith(SPACE, end - 3)) { end -= 3; spaced = true; continue; }
      break;
    }
    if (start !== from || end !== i) changed = true;
    const seg = path.slice(start, end);
    if (spaced && (seg === '.' || seg === '..')) return null;
    const last = i === path.length;
    if (spaced && seg === '' && from !== 0) {
      // an emptied segment is dropped, as Spring drops empty tokens
    } else {
      out += seg;
      if (!last) out += '/';
    }
    from = i + 1;
  }
  if (!changed) return path;
  if (out.length > 1 && out.charCodeAt(out.length - 1) === 47 && path.charCodeAt(path.length - 1) !== 47) out = out.slice(0, -1);
  return out === '' ? '/' : out;
}
