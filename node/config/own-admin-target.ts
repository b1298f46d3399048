// Upstream targets the policy may not name: the instance's own admin listener (its local part's `admin.listen`).
// Routed there, every client of the proxy port reached the admin API, whose token the local part may keep short
// because only this host reaches it (env-check.ts). Decided from the addresses written and this host's own names
// (its hostname, /etc/hosts); other names are not resolved.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { ConfigProblem } from './problem.js';

/** The parts of a config this check reads (a lenient shape: crossCheck also runs on schema-invalid documents). */
interface Shape {
  readonly admin: { readonly listen: { readonly host?: string; readonly port: number } };
  readonly upstreams: Readonly<Record<string, { readonly targets?: readonly unknown[] } | undefined>>;
}

/** An IPv4-mapped IPv6 address as the URL parser writes it (`::ffff:7f00:1`) back to dotted IPv4; others unchanged. */
function unmapped(host: string): string {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (m === null) return host.startsWith('::ffff:') && isIP(host.slice(7)) === 4 ? host.slice(7) : host;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** A host as compared here: lower case, without IPv6 brackets or a trailing dot, IPv4-mapped IPv6 as IPv4. */
const norm = (host: string): string => unmapped(host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase());

const WILDCARD = new Set(['0.0.0.0', '::']);

/** Hosts that reach this host's own sockets whatever the admin listener's address: loopback, `localhost`, the unspecified address. */
function thisHost(h: string): boolean {
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || WILDCARD.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Addresses of this host's interfaces (for an admin listener on 0.0.0.0 / ::); empty when the OS will not say. */
function interfaceAddresses(): Set<string> {
  const out = new Set<string>();
  try {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(norm(a.address.replace(/%.*$/, '')));
  } catch { /* no interface list (a sandbox): the written addresses above still count */ }
  return out;
}

/**
 * Names this host gives itself, with the address each stands for (null: this host, any address): its hostname,
 * and every name `/etc/hosts` lists. Before, `http://<hostname>:<admin port>` passed — Debian's /etc/hosts maps the
 * hostname to 127.0.1.1 — and reached the admin API like `localhost`. Empty parts when the OS will not say.
 */
function ownNames(): Map<string, string | null> {
  const out = new Map<string, string | null>();
  try {
    for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
      const [addr, ...names] = line.replace(/#.*$/, '').trim().split(/\s+/);
      if (addr === undefined || isIP(addr.replace(/%.*$/, '')) === 0) continue;
      for (const n of names) if (n !== '' && !out.has(norm(n))) out.set(norm(n), norm(addr.replace(/%.*$/, '')));
    }
  } catch { /* no /etc/hosts: the hostname below still counts */ }
  try { const h = norm(hostname()); if (h !== '') out.set(h, null); } catch { /* no hostname */ }
  return out;
}

/** A URL's port: the one written, or its scheme's 80/443. */
export const urlPort = (url: URL): number => (url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port));

/** Lazily read facts about this host, shared by one config check. */
export interface HostFacts { local: Set<string> | null; names: Map<string, string | null> | null }
export const hostFacts = (): HostFacts => ({ local: null, names: null });

/**
 * True when `url`'s host reaches a listener bound to `listenHost` (its port compared by the caller): loopback,
 * `localhost`, 0.0.0.0/::, this host's own names, the listener's own host (a name read through /etc/hosts), or with
 * it on a wildcard — or on a name whose address is not known here — any address of this host's interfaces.
 */
export function reachesListener(url: URL, listenHost: string, facts: HostFacts): boolean {
  let bound = norm(listenHost);
  // a listener bound by name: the address /etc/hosts gives it; the hostname or a name resolved elsewhere binds one of
  // this host's addresses, not known here, so any of them counts (before, the name was compared as text: with
  // admin.listen.host `podname` and /etc/hosts `10.1.2.3 podname`, a target http://10.1.2.3:<admin port> passed)
  if (isIP(bound) === 0 && !thisHost(bound)) bound = (facts.names ??= ownNames()).get(bound) ?? '0.0.0.0';
  let h = norm(url.hostname);
  if (isIP(h) === 0 && !thisHost(h)) {
    const addr = (facts.names ??= ownNames()).get(h);
    if (addr === null) h = 'localhost';
    else if (addr !== undefined) h = addr;
  }
  if (thisHost(h) || h === bound) return true;
  return WILDCARD.has(bound) && (facts.local ??= interfaceAddresses()).has(h);
}

/**
 * Every upstream target that names this instance's admin listener: its port (explicit, or 80/443 by scheme) and a
 * host that reaches it (reachesListener). Empty when the admin port is 0 (chosen when bound: not known here).
 */
export function ownAdminTargetProblems(cfg: Shape): ConfigProblem[] {
  const port = cfg.admin.listen.port;
  if (!Number.isInteger(port) || port <= 0) return [];
  const adminHost = cfg.admin.listen.host ?? '127.0.0.1';
  const facts = hostFacts();
  const out: ConfigProblem[] = [];
  for (const [name, u] of Object.entries(cfg.upstreams ?? {})) {
    const targets = Array.isArray(u?.targets) ? u.targets : [];
    targets.forEach((t, i) => {
      if (typeof t !== 'string') return;
      let url: URL;
      try { url = new URL(t); } catch { return; }
      if (urlPort(url) !== port || !reachesListener(url, adminHost, facts)) return;
      out.push({ path: `upstreams.${name}.targets[${i}]`, message: `${url.host} is this instance's admin listener (admin.listen ${adminHost}:${port}): a route to it would open the admin API to every client of the proxy port; name the service's own address` });
    });
  }
  return out;
}
