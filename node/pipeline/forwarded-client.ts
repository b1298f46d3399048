// The client a trusted front proxy named (server.trust_forwarded): the X-Forwarded-For entry it
// appended, checked to be an IP literal, else the connection's peer — what the access log and spans record.
import { isIP } from 'node:net';

/** Longest IP literal isIP accepts without a zone (IPv6 with an embedded IPv4: 45 characters). */
const MAX_IP_LENGTH = 45;
/** Characters read back from the end before giving up: an address with generous whitespace around it. */
const MAX_ENTRY_SCAN = 64;

/**
 * The rightmost `X-Forwarded-For` entry of `headers` (flat [name, value…]; names in any case),
 * several lines read as one list joined in order (RFC 9110 §5.3): the address the trusted front
 * proxy appended. `peer` when there is none or it is not a bare IPv4/IPv6 literal (a port,
 * brackets, a zone, `unknown`, an empty entry, anything longer than an address), so a client's
 * text never reaches a log line. Allocates only the returned entry.
 */
export function forwardedClient(headers: readonly string[], peer: string): string {
  let last: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i]!;
    if (k.length === 15 && (k === 'x-forwarded-for' || k.toLowerCase() === 'x-forwarded-for')) last = headers[i + 1];
  }
  if (last === undefined) return peer;
  // the entry between the last comma and the end, optional whitespace (SP, HTAB) trimmed
  let end = last.length;
  while (end > 0 && isOws(last.charCodeAt(end - 1))) end--;
  let start = end;
  while (start > 0 && last.charCodeAt(start - 1) !== 44 /* , */) {
    if (end - start > MAX_ENTRY_SCAN) return peer; // no address is that long: 10 KB of junk is not scanned
    start--;
  }
  while (start < end && isOws(last.charCodeAt(start))) start++;
  if (end - start === 0 || end - start > MAX_IP_LENGTH) return peer;
  const entry = last.slice(start, end);
  return isIP(entry) !== 0 && !entry.includes('%') ? entry : peer;
}

const isOws = (c: number): boolean => c === 32 || c === 9;
