// How deeply a JSON admin body nests, checked before anything parses it: V8's JSON.parse of 1 MiB of
// `[[[[…` held the event loop (which serves the proxy port too) for 1–2.6 s, twice with the audit's parse.

/** Deepest `[`/`{` nesting an admin JSON body may have; the bodies the endpoints take need 2. */
export const MAX_ADMIN_JSON_DEPTH = 64;

/** Whether `text` opens more than `limit` `[`/`{` at once outside its strings; linear, no allocation. */
export function jsonNestsDeeper(text: string, limit = MAX_ADMIN_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > limit) return true; } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
