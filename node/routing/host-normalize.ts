// The Host header as virtual-host routers read it (nginx, Envoy, HAProxy): lower case, one
// trailing dot removed (an absolute DNS name is the same host), the port apart. The listener
// routes on the host and forwards the normalised host[:port]; anything that is not a valid
// RFC 3986 host[:port] is refused (→ 400) instead of guessed at.

/** Set by routingHost: where the host part ends in the raw value (the port or the end follows). */
let hostEnd = 0;
/** Set by routingHost: index of the port's ':' in the raw value, -1 without a port. */
let portColon = -1;

const MAX_NAME = 253; // RFC 1035 §2.3.4, without the trailing dot
const MAX_LABEL = 63;

function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isHex(c: number): boolean { return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70); }
function isUpper(c: number): boolean { return c >= 65 && c <= 90; }
/** reg-name characters we accept: letters, digits, '-', '_' (internal names) and '.'. */
function isNameChar(c: number): boolean { return isDigit(c) || (c >= 97 && c <= 122) || isUpper(c) || c === 45 || c === 95 || c === 46; }

/**
 * WHATWG URL "ends in a number": the last label is all digits or 0x-hex. URL parsers (and
 * inet_aton) read such a name as an IPv4 address in short, octal or hex forms ("3",
 * "0x7f.1", "017.0.0.1"), which a host route compared as text would not: only the canonical
 * dotted quad is accepted.
 */
function endsInNumber(raw: string, end: number): boolean {
  let start = raw.lastIndexOf('.', end - 1) + 1;
  if (start >= end) return false;
  if (end - start >= 2 && raw.charCodeAt(start) === 48 && (raw.charCodeAt(start + 1) | 0x20) === 120 /* 0x */) {
    for (let i = start + 2; i < end; i++) if (!isHex(raw.charCodeAt(i))) return false;
    return true;
  }
  for (; start < end; start++) if (!isDigit(raw.charCodeAt(start))) return false;
  return true;
}

/** Four decimal parts 0–255 without leading zeros ("127.0.0.1"). */
function dottedQuad(raw: string, end: number): boolean {
  let parts = 0;
  let v = 0;
  let len = 0;
  for (let i = 0; i <= end; i++) {
    const c = i === end ? 46 : raw.charCodeAt(i);
    if (c === 46) {
      if (len === 0 || v > 255 || (len > 1 && raw.charCodeAt(i - len) === 48)) return false;
      parts++; v = 0; len = 0;
    } else if (isDigit(c)) {
      v = v * 10 + (c - 48); len++;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/**
 * `[…]` (lower case) is a valid IPv6 address written as RFC 5952 and URL parsers write it: one
 * address has many spellings (`[2001:0db8:0::1]`, `[::ffff:127.0.0.1]`), which a host route compared
 * as text would miss while an upstream's URL parser reads them as its route's address. IPv6 hosts only.
 */
function canonicalIpv6(literal: string): boolean {
  try { return new URL(`http://${literal}/`).hostname === literal; } catch { return false; }
}

/** Validate `:port` at `i` (i at the ':'); true when 1–5 digits ≤ 65535 run to the end. */
function validPort(raw: string, i: number): boolean {
  const n = raw.length - i - 1;
  if (n < 1 || n > 5) return false;
  let v = 0;
  for (let j = i + 1; j < raw.length; j++) {
    const c = raw.charCodeAt(j);
    if (!isDigit(c)) return false;
    v = v * 10 + (c - 48);
  }
  return v <= 65535;
}

/**
 * The host to route on for a Host header value: lower case, without the port, without one
 * trailing dot ("Admin.Example.:8080" → "admin.example"). '' for an empty value (only routes
 * without `match.host` apply). Null (→ 400) for anything else than `reg-name[.][:port]` with
 * labels of 1–63 characters out of letters, digits, '-', '_' (253 at most in all; a name
 * ending in a numeric label must be a canonical dotted-quad IPv4 address), or
 * `[IPv6]` (a valid address in its canonical RFC 5952 form, any case; no zone id), each with an
 * optional port of 1–5 digits ≤ 65535.
 * Allocates only when the value has a port, upper case or a trailing dot.
 */
export function routingHost(raw: string): string | null {
  // nearly every request of a host carries the same value: the last answer is kept (a pure function)
  if (raw === memoRaw) {
    hostEnd = memoHostEnd;
    portColon = memoPortColon;
    return memoHost;
  }
  const host = parseHost(raw);
  memoRaw = raw;
  memoHost = host;
  memoHostEnd = hostEnd;
  memoPortColon = portColon;
  return host;
}

/** routingHost's last input and its outputs (the answer and the two positions). */
let memoRaw: string | null = null;
let memoHost: string | null = null;
let memoHostEnd = 0;
let memoPortColon = -1;

function parseHost(raw: string): string | null {
  const n = raw.length;
  portColon = -1;
  if (n === 0) { hostEnd = 0; return ''; }
  let upper = false;
  let end: number;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const close = raw.indexOf(']');
    if (close < 3) return null;
    for (let i = 1; i < close; i++) {
      const c = raw.charCodeAt(i);
      if (!isHex(c) && c !== 58 /* : */ && c !== 46 /* . */) return null;
      if (isUpper(c)) upper = true;
    }
    end = close + 1;
    if (end < n) {
      if (raw.charCodeAt(end) !== 58 || !validPort(raw, end)) return null;
      portColon = end;
    }
    hostEnd = end;
    const literal = end === n && !upper ? raw : raw.slice(0, end).toLowerCase();
    return canonicalIpv6(literal) ? literal : null;
  }
  let label = 0;
  let total = 0;
  end = n;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 58 /* : */) {
      if (!validPort(raw, i)) return null;
      end = i;
      portColon = i;
      break;
    }
    if (!isNameChar(c)) return null;
    if (c === 46 /* . */) {
      // an empty label: leading dot, "..", or a second trailing dot
      if (label === 0) return null;
      label = 0;
    } else {
      if (++label > MAX_LABEL) return null;
      if (isUpper(c)) upper = true;
    }
    total++;
  }
  if (total === 0) return null;
  // one trailing dot is the absolute form of the same name
  const dot = raw.charCodeAt(end - 1) === 46 ? 1 : 0;
  if (total - dot > MAX_NAME) return null;
  hostEnd = end - dot;
  if (endsInNumber(raw, hostEnd) && !dottedQuad(raw, hostEnd)) return null;
  if (hostEnd === n) return upper ? raw.toLowerCase() : raw;
  const h = raw.slice(0, hostEnd);
  return upper ? h.toLowerCase() : h;
}

/**
 * The Host value to forward for a raw value: the routed host plus the port as sent
 * ("ADMIN.example.:8080" → "admin.example:8080"), the value itself when already normal,
 * null when routingHost refuses it.
 */
export function normalizedHostHeader(raw: string): string | null {
  const host = routingHost(raw);
  if (host === null || portColon === -1) return host;
  // "host:port" with nothing to change: no allocation
  if (hostEnd === portColon && host.length === hostEnd && raw.startsWith(host)) return raw;
  return host + raw.slice(portColon);
}
