// The client a trusted front proxy named (server.trust_forwarded): the X-Forwarded-For entry it
// appended, checked to be an IP literal, else the connection's peer — what the access log and spans record.
import { isIP } from 'node:net';

/** Longest IP literal isIP accepts without a zone (IPv6 with an embedded IPv4: 45 characters). */
const MAX_IP_LENGTH = 45;
/** Characters read back from an entry's end before giving up: an address with generous whitespace around it. */
const MAX_ENTRY_SCAN = 64;

/**
 * The `hops`-th `X-Forwarded-For` entry from the right of `headers` (flat [name, value…]; names in
 * any case; several lines read as one list joined in order, RFC 9110 §5.3): with hops = 1 the address
 * the trusted front proxy appended. `peer` when there is none, fewer entries, or it is not a bare
 * IPv4/IPv6 literal (a port, brackets, a zone, `unknown`, an empty entry, anything longer than an
 * address), so a client's text never reaches a log line. Allocates only the returned entry.
 */
export function forwardedClient(headers: readonly string[], peer: string, hops = 1): string {
  let left = hops;
  // lines from the last: the entries of the last line are the rightmost of the joined list
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const k = headers[i]!;
    if (k.length !== 15 || (k !== 'x-forwarded-for' && k.toLowerCase() !== 'x-forwarded-for')) continue;
    const v = headers[i + 1]!;
    let end = v.length;
    for (;;) {
      let start = end;
      while (start > 0 && v.charCodeAt(start - 1) !== 44 /* , */) {
        if (end - start > MAX_ENTRY_SCAN) return peer; // no address is that long: 10 KB of junk is not scanned
        start--;
      }
      if (--left === 0) return entryOrPeer(v, start, end, peer);
      if (start === 0) break; // this line is used up: the next entry ends the line before
      end = start - 1;
    }
  }
  return peer;
}

/** `v`'s [start, end) without optional whitespace when it is an IP literal (no zone), else `peer`. */
function entryOrPeer(v: string, start: number, end: number, peer: string): string {
  while (end > start && isOws(v.charCodeAt(end - 1))) end--;
  while (start < end && isOws(v.charCodeAt(start))) start++;
  if (end === start || end - start > MAX_IP_LENGTH) return peer;
  const entry = v.slice(start, end);
  return isIP(entry) !== 0 && !entry.includes('%') ? entry : peer;
}

const isOws = (c: number): boolean => c === 32 || c === 9;
