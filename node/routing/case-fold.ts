// The non-ASCII letters that case-insensitive matchers fold onto ASCII ones, and the compatibility
// forms Unicode NFKC maps to ASCII (fullwidth `ａ`, `ⅰ`, `ⓐ`), as they appear (escaped UTF-8) in a
// normalised path: read by the route table's case reading.
import { hexVal } from './path-normalize.js';

const UNRESERVED_ASCII = /^[A-Za-z0-9\-._~]+$/;

// What asciiReading found per code point below 0x20000 (no character above folds to ASCII):
// 0 not asked yet, 1 none, 2 an entry in FOLDS. 128 KiB, filled as paths ask.
const SEEN = new Uint8Array(0x20000);
const FOLDS = new Map<number, string>();

/** The ASCII a case-insensitive or NFKC reader takes code point `cp` for, or null when it stays non-ASCII. */
function asciiReading(cp: number): string | null {
  if (cp >= 0x20000) return null;
  const seen = SEEN[cp]!;
  if (seen !== 0) return seen === 2 ? FOLDS.get(cp)! : null;
  let ascii: string | null;
  // Java's toLowerCase('İ') and Unicode simple folding of ı, ſ and K (NFKC keeps İ and ı)
  if (cp === 0x130 || cp === 0x131) ascii = 'i';
  else if (cp === 0x17f) ascii = 's';
  else if (cp === 0x212a) ascii = 'k';
  else {
    const c = String.fromCodePoint(cp);
    const n = c.normalize('NFKC');
    ascii = n !== c && UNRESERVED_ASCII.test(n) ? n : null;
  }
  SEEN[cp] = ascii === null ? 1 : 2;
  if (ascii !== null) FOLDS.set(cp, ascii);
  return ascii;
}

/** The byte of the escape at path[i] (`%XX`), or -1 (no allocation: runs on every path with an escape). */
function byteAt(path: string, i: number): number {
  if (path.charCodeAt(i) !== 37 || i + 2 >= path.length) return -1;
  const h = hexVal(path.charCodeAt(i + 1));
  const l = hexVal(path.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/**
 * `path` with the escapes of characters other readers take for ASCII replaced by that ASCII:
 * `İ` (U+0130), `ı` (U+0131), `ſ` (U+017F) and the Kelvin sign (U+212A) as Java's
 * `equalsIgnoreCase`/`Character.toLowerCase` (Spring with `caseSensitive: false`) and Unicode
 * simple case folding (Python `re.IGNORECASE`, .NET) read them — `/adm%C4%B0n` is `/admin` —
 * and every character whose compatibility form (NFKC: programs that fold names with it, Windows
 * "best fit" code pages) is unreserved ASCII: `/%EF%BD%81dmin` (fullwidth `ａ`) is `/admin`.
 * Escapes that are not valid UTF-8 are left as they are. The path itself (no allocation)
 * when it has no escape of a byte above 0x7F.
 */
export function foldAsciiLookalikes(path: string): string {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i)) {
    const lead = byteAt(path, i);
    // the length of the UTF-8 sequence whose first byte is escaped at i (0: ASCII, a continuation, invalid)
    const n = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
    if (n === 0) { i += lead < 0 ? 1 : 3; continue; }
    let cp = lead & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
    let k = 1;
    for (; k < n; k++) {
      const b = byteAt(path, i + 3 * k);
      // the second byte's range rules out overlong forms, surrogates and code points past U+10FFFF, as a strict decoder does
      const lo = k > 1 ? 0x80 : lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const hi = k > 1 ? 0xbf : lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      if (b < lo || b > hi) break;
      cp = cp * 64 + (b & 0x3f);
    }
    if (k < n) { i += 3; continue; } // not valid UTF-8 here: no reader folds it alike
    const ascii = asciiReading(cp);
    if (ascii !== null) { out += path.slice(from, i) + ascii; from = i + 3 * n; }
    i += 3 * n;
  }
  return from === 0 ? path : out + path.slice(from);
}

/**
 * A route parameter as written, with only `İ` `ı` (`%C4%B0` `%C4%B1`, upper-case hex in a normalised
 * path) read as `i`: what the case reading's parameter must be for every upstream to read it alike.
 * Case-insensitive matchers (Java, .NET, Python) hand a parameter over as written and NFKC keeps
 * those two letters, so `/cities/%C4%B0zmir` is `:name` = `İzmir` to all of them; a character NFKC
 * folds (`Ｔ`, `²`, `ſ`, the Kelvin sign) changes the parameter an NFKC reader gets, and stays unfolded here.
 */
export function foldDottedI(param: string): string {
  return param.indexOf('%C4%B') === -1 ? param : param.replace(/%C4%B[01]/g, 'i');
}
