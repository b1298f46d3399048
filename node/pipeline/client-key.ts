// The key a requesting client is charged under by the per-client fair queues (introspection calls waiting
// for a connection, JWT verifications waiting for a pool thread) and the introspection budget: an IPv6
// client by its /64, an IPv4-mapped one as its IPv4 address.
import { isIP } from 'node:net';

/**
 * The key a client address is charged under: an IPv4 address (also IPv4-mapped IPv6) as itself, an
 * IPv6 address by its /64 (one host is usually given a whole /64: per address, it could invent 2^64
 * clients), anything else (no address known: '') as it is.
 */
export function clientKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 literal isIP accepted (`::` and a dotted IPv4 tail read), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    const prefix = text.slice(0, lastColon + 1);
    // `::1.2.3.4` keeps its `::`; `::ffff:1.2.3.4` and `1:2:3:4:5:6:1.2.3.4` lose the colon before the tail
    text = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const read = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = read(halves[0]!);
  const rest = halves.length === 2 ? read(halves[1]!) : [];
  const fill = 8 - tail.length - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest, ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}
