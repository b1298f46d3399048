// The syntax of a claim path in a route rule or identity header: dots nest (`realm_access.roles`), and
// a segment in double quotes is one key with its dots (`resource_access."api.billing".roles`: a
// Keycloak client id with a dot). Parsed at config load; a path that does not parse is a config error.

/** The keys of `text`, outermost first, or why it is not a claim path. */
export function splitClaimPath(text: string): { segments: string[] } | { error: string } {
  if (!text.includes('"')) return { segments: text.split('.') };
  const segments: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end === -1) return { error: 'a quoted key is not closed: write resource_access."api.billing".roles' };
      if (end === i + 1) return { error: 'an empty quoted key ("")' };
      segments.push(text.slice(i + 1, end));
      i = end + 1;
      if (i === text.length) return { segments };
      if (text[i] !== '.') return { error: 'a quoted key is followed by a dot or ends the path' };
      i++;
    } else {
      const dot = text.indexOf('.', i);
      const seg = text.slice(i, dot === -1 ? undefined : dot);
      if (seg.includes('"')) return { error: 'a quote only around a whole key: resource_access."api.billing".roles' };
      segments.push(seg);
      if (dot === -1) return { segments };
      i = dot + 1;
    }
  }
}

/** Why `text` is not a claim path, or undefined (for the schema's refine). */
export function claimPathProblem(text: string): string | undefined {
  const r = splitClaimPath(text);
  return 'error' in r ? r.error : undefined;
}
