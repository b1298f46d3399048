// The non-ASCII letters that case-insensitive matchers fold onto ASCII ones, and the compatibility
// forms Unicode NFKC maps to ASCII (fullwidth `ａ`, `ⅰ`, `ⓐ`), as they appear (escaped UTF-8) in a
// normalised path: read by the route table's case reading.

const UNRESERVED_ASCII = /^[A-Za-z0-9\-._~]+$/;

/** The ASCII a case-insensitive or NFKC reader takes the character `c` for, or null when it keeps it non-ASCII. */
function asciiReading(c: string): string | null {
  // Java's toLowerCase('İ') and Unicode simple folding of ı, ſ and K (NFKC keeps İ and ı)
  if (c === '\u0130' || c === '\u0131') return 'i';
  if (c === '\u017f') return 's';
  if (c === '\u212a') return 'k';
  const n = c.normalize('NFKC');
  return n !== c && UNRESERVED_ASCII.test(n) ? n : null;
}

/** The byte of the escape at path[i] (`%XX`, upper-case hex as normalised), or -1. */
function byteAt(path: string, i: number): number {
  if (path.charCodeAt(i) !== 37 || i + 2 >= path.length) return -1;
  const hex = path.slice(i + 1, i + 3);
  return /^[0-9A-Fa-f]{2}$/.test(hex) ? parseInt(hex, 16) : -1;
}

/**
 * `path` with the escapes of characters other readers take for ASCII replaced by that ASCII:
 * `İ` (U+0130), `ı` (U+0131), `ſ` (U+017F) and the Kelvin sign (U+212A) as Java's
 * `equalsIgnoreCase`/`Character.toLowerCase` (Spring with `caseSensitive: false`) and Unicode
 * simple case folding (Python `re.IGNORECASE`, .NET) read them — `/adm%C4%B0n` is `/admin` —
 * and every character whose compatibility form (NFKC: programs that fold names with it, Windows
 * "best fit" code pages) is unreserved ASCII: `/%EF%BD%81dmin` (fullwidth `ａ`) is `/admin`.
 * A run of escapes that is not valid UTF-8 is left as it is. The path itself (no allocation)
 * when it has no escape of a byte above 0x7F.
 */
export function foldAsciiLookalikes(path: string): string {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i)) {
    // a run of escapes of non-ASCII bytes: one or more UTF-8 characters
    const start = i;
    const bytes: number[] = [];
    for (let b = byteAt(path, i); b >= 0x80; b = byteAt(path, i)) { bytes.push(b); i += 3; }
    if (bytes.length === 0) { i = start + 1; continue; }
    const buf = Buffer.from(bytes);
    const text = buf.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(buf)) continue; // not valid UTF-8: no reader folds it alike
    let at = start;
    let run = '';
    let folded = false;
    for (const c of text) {
      const len = Buffer.byteLength(c, 'utf8') * 3;
      const ascii = asciiReading(c);
      if (ascii !== null) folded = true;
      run += ascii ?? path.slice(at, at + len);
      at += len;
    }
    if (!folded) continue;
    out += path.slice(from, start) + run;
    from = i;
  }
  return from === 0 ? path : out + path.slice(from);
}
