// The client's address as the uWS listener reads it: one getpeername per call in the pinned uWS
// build (README "Limitations"), so callers read it only when a header, log line or trace needs it.
import type { HttpResponse } from 'uWebSockets.js';

const addressText = new TextDecoder();
/** Two lower-case hex digits per byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The client address as text, the same characters uWS's getRemoteAddressAsText() gives: dotted
 * decimal for IPv4, eight groups of four lower-case hex digits for IPv6 (an IPv4 client of a `::`
 * listener is `0000:…:ffff:7f00:0001`). Formatted here from the binary address: ~0.2–0.8 µs less
 * per call than uWS's own text (its snprintf and a second ArrayBuffer read; bench/RESULTS.md
 * 2026-12-06 14:10). Any other length (none seen; empty for a closed socket) goes through uWS's text.
 */
export function clientAddress(res: HttpResponse): string {
  const ab = res.getRemoteAddress();
  const b = new Uint8Array(ab);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    let s = HEX[b[0]!]! + HEX[b[1]!]!;
    for (let i = 2; i < 16; i += 2) s += ':' + HEX[b[i]!]! + HEX[b[i + 1]!]!;
    return s;
  }
  return b.length === 0 ? '' : addressText.decode(res.getRemoteAddressAsText());
}
