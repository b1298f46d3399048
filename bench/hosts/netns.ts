// Hosts as Linux network namespaces for the multi-host harness: one namespace per host plus
// a "switch" namespace holding a bridge, each host joined to it by a veth pair created
// directly inside the namespaces (nothing appears in, and no address is added to, the root
// namespace). Names carry the owner's pid so concurrent runs never collide and a crashed
// run's leftovers are found and removed by the next one. Needs root and iproute2.
import { execFileSync, spawnSync } from 'node:child_process';

/** Private range used inside the namespaces only. */
export const SUBNET = '10.77.0';
const PREFIX = 'pcx';

/** One host of the topology. */
export interface NetHost { readonly name: string; readonly ns: string; readonly addr: string }

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Namespaces of this harness that exist now, with their owner pid. */
function harnessNamespaces(): Array<{ ns: string; owner: number }> {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').map((l) => l.split(' ')[0]!).map((ns) => ({ ns, m: new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns) }))
    .filter((x) => x.m !== null).map((x) => ({ ns: x.ns, owner: Number(x.m![1]) }));
}

/** SIGKILL every process inside a namespace (a host dying), then wait until none is left. */
export function killNamespace(ns: string): number[] {
  const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  return pids;
}

function deleteNamespace(ns: string): void {
  killNamespace(ns);
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** Remove namespaces (and their processes) left by harness runs whose process is gone. Returns their names. */
export function removeLeftovers(): string[] {
  const stale = harnessNamespaces().filter((x) => x.owner !== process.pid && !alive(x.owner)).map((x) => x.ns);
  for (const ns of stale) deleteNamespace(ns);
  return stale;
}

/**
 * Can this process create namespaces? Throws with the reason (not root, no `ip`, no
 * CAP_SYS_ADMIN, kernel without veth/bridge) — the harness never skips silently.
 */
export function assertNamespacesAvailable(): void {
  if (process.getuid?.() !== 0) throw new Error(`the multi-host harness needs root to create network namespaces (uid ${process.getuid?.()})`);
  const probe = `${PREFIX}-${process.pid}-probe`;
  try {
    ip(['netns', 'add', probe]);
    ip(['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`cannot create network namespaces, bridges or veth pairs here: ${(e.stderr ?? e.message).trim()}`);
  } finally {
    spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  }
}

/** A switch namespace with a bridge and the hosts on it; `destroy()` removes everything (idempotent). */
export class Topology {
  readonly hosts = new Map<string, NetHost>();
  private readonly sw: string;
  private destroyed = false;

  private constructor(readonly runId: string) {
    this.sw = `${PREFIX}-${runId}-sw`;
  }

  /** Create the switch and one host per entry of `hosts` (name → last octet of its address). */
  static create(hosts: Record<string, number>): Topology {
    assertNamespacesAvailable();
    removeLeftovers();
    const t = new Topology(String(process.pid));
    try {
      ip(['netns', 'add', t.sw]);
      ip(['-n', t.sw, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', t.sw, 'link', 'set', 'br0', 'up']);
      for (const [name, octet] of Object.entries(hosts)) {
        const ns = `${PREFIX}-${t.runId}-${name}`;
        const addr = `${SUBNET}.${octet}`;
        ip(['netns', 'add', ns]);
        // both ends born inside their namespaces: no interface ever exists in the root namespace
        ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p-${name}`, 'netns', t.sw]);
        ip(['-n', t.sw, 'link', 'set', `p-${name}`, 'master', 'br0']);
        ip(['-n', t.sw, 'link', 'set', `p-${name}`, 'up']);
        ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        t.hosts.set(name, { name, ns, addr });
      }
    } catch (err) {
      t.destroy();
      throw err;
    }
    return t;
  }

  host(name: string): NetHost {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Cut (down) or restore (up) a host's only link, as pulling its cable would. */
  link(name: string, state: 'up' | 'down'): void {
    ip(['-n', this.host(name).ns, 'link', 'set', 'eth0', state]);
  }

  /** argv that runs `argv` inside a host's namespace. */
  exec(name: string, argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns, ...argv];
  }

  /** Kill every process in every namespace of this run and delete the namespaces. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.hosts.values()) deleteNamespace(h.ns);
    deleteNamespace(this.sw);
  }

  /** Names of this run's namespaces that still exist (for the cleanup check). */
  remaining(): string[] {
    return harnessNamespaces().filter((x) => x.owner === Number(this.runId)).map((x) => x.ns);
  }
}
