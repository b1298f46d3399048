// Connects one proxy instance to its cluster member: the revocation set and request
// gate become the auth layer's TokenState, the member's readiness and metrics join the
// instance's, and its admin routes (revocations) join the admin API.
import type { Config } from '../../node/config/index.js';
import type { InstanceOptions } from '../../node/instance-options.js';
import type { Logger } from '../../node/log.js';
import { DpopReplaySync } from '../dpop-sync/index.js';
import { ClusterNode, rendezvousOwner, type ClusterRole } from '../index.js';

export interface MemberWiring {
  readonly node: ClusterNode;
  /** Spread into ProxyInstance.start options. */
  readonly instance: Pick<InstanceOptions, 'tokenState' | 'sharing' | 'dpopReplay' | 'cluster' | 'adminRoutes' | 'revocationPublisher'>;
}

/**
 * Start the cluster member for this process; rejects only on a config problem (e.g. unset password
 * variable). `current`: the running config, read per admin call (its issuers bound a revocation's `issuer`).
 */
export async function startMember(config: Config, logger: Logger, role: ClusterRole, current: () => Config = () => config): Promise<MemberWiring> {
  const node = await ClusterNode.start({ config, logger, role, current });
  const store = node.revocations;
  const receiver = node.revocationReceiver;
  return {
    node,
    instance: {
      tokenState: {
        gate: () => node.gate(),
        current: () => node.current(),
        // with the receiver thread: first apply whatever it wrote (one Atomics.load when nothing is pending)
        isRevoked: receiver === null ? (facts) => store.isRevoked(facts) : (facts) => { receiver.poll(); return store.isRevoked(facts); },
        onRevoked: receiver === null ? (listener) => store.onRevoked(listener) : (listener) => store.onRevoked((r) => receiver.hold(() => listener(r))),
      },
      // identity-provider events (node/events) revoke through the same actor as POST /revocations (their sid/sub is a
      // claim value: never refused as a pasted raw token, whatever its shape)
      revocationPublisher: {
        publish: async (input, id) => {
          const out = await node.revocationActor.add(input, id, undefined, true);
          return out.ok ? { ok: true, id: out.record.id, persisted: out.persisted } : out;
        },
        known: (id) => store.has(id),
        // nobody owns anything before the view has heard its peers: each would own every key (two SSF stream managers)
        owns: (key) => node.membership.converged() && rendezvousOwner(key, node.membership.members()) === node.memberId,
        converged: () => node.membership.converged(),
        isolated: () => node.membership.isolated(),
      },
      sharing: node.introspection,
      // DPoP proof jtis: checked-and-set by each key's owner, announced to all (cluster/dpop-sync)
      dpopReplay: new DpopReplaySync({
        bus: node.bus, self: node.memberId, members: () => node.membership.members(), pickOwner: rendezvousOwner,
        // right after the bus connected each member's view may hold itself only: a proof waits for the owner to be known
        unsettledMs: () => node.membership.unsettledMs(), logger: logger.child({ component: 'dpop' }),
      }),
      cluster: {
        readiness: () => node.readiness(), stats: () => node.stats(),
        ...(receiver === null ? {} : { health: () => ({ revocation_receiver: receiver.health() }) }),
      },
      // workers have no admin listener; single processes serve revocations themselves
      adminRoutes: role === 'worker' ? {} : node.adminRoutes(current),
    },
  };
}
