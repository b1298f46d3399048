// One revocation published from outside the cluster (the revoke CLI; later other one-shot
// sources) the way a member publishes it: the same validation (buildRevocation), the same
// bus authentication (MessageBus.seal), the same outbox and JetStream ack — then disconnect.
import { Codec } from '../protocol/codec.js';
import { busAuthFrom } from '../protocol/bus-keys.js';
import { MessageBus } from '../protocol/message-bus.js';
import { revocationAdded, type RevocationAdded, type RevocationRecord } from '../protocol/messages.js';
import { subjects } from '../protocol/subjects.js';
import { jetStreamMissing, jsErrorText, natsConnectionOptions, NatsTransport, noAnswerYet, noJetStream, noJetStreamMessage, noResponders, shownServers } from '../transport/index.js';
import { NOT_CONNECTED, RevocationOutbox } from './revocation-outbox.js';
import { MIN_SKEW_S } from './revocation-linger.js';
import { buildRevocation } from './revocation-request.js';
import { STREAM_AGE_MARGIN_S, type ClusterSettings } from './revocation-settings.js';
import { RevocationStream, type StreamPosition } from './revocation-stream.js';
import { wallNow } from './revocation-time.js';

/**
 * How long publishOnce keeps asking while the revocation stream's leader does not answer, ms: a
 * leader that stopped (frozen host, cut link) is replaced by an election within ~4–9 s on nats-server.
 */
export const LEADER_WAIT_MS = 20_000; // 20 s
/** Pause between two questions to a stream that did not answer, ms. */
const RETRY_MS = 250;

export interface PublishOnceOptions {
  /** `clusterSettings(config.cluster)`; `nats` must be set. */
  readonly settings: ClusterSettings;
  /** Recorded as the revocation's origin and in the NATS connection name. */
  readonly origin: string;
  /** How long to keep trying to reach NATS, ms (default 5000). */
  readonly connectTimeoutMs?: number;
  /** How long to wait for the stream's ack, ms (default 5000). */
  readonly ackTimeoutMs?: number;
  /** The configured issuers an `issuer` must be one of (the CLI's config, with a file policy); unchecked when absent. */
  readonly knownIssuers?: readonly string[];
  /** How long to keep asking while no stream leader answers (an election), ms (default LEADER_WAIT_MS, 20 s). */
  readonly leaderWaitMs?: number;
  /** The largest `clock_skew_s` of the CLI config's issuers (lingerFor / 2), s: how far in the past an `exp` may lie (default 60). */
  readonly skewS?: number;
  /** Run between the stream check and the first publish (tests take the stream's leader down there). */
  readonly beforePublish?: () => Promise<void>;
}

export type PublishOnceResult =
  /** Stored in the stream: every member has it or replays it. */
  | { readonly kind: 'stored'; readonly record: RevocationRecord; readonly stream: string; readonly seq: number; readonly duplicate: boolean }
  /** Nothing was sent: the request or the settings are wrong (bad usage, exit 2 in the CLI). */
  | { readonly kind: 'refused'; readonly errors: readonly string[] }
  /** Not stored: NATS unreachable, stream full or no ack (members connected at the time may have it live). */
  | { readonly kind: 'failed'; readonly message: string };

/**
 * Validate `request` (the admin API's JSON shape), publish it on `<prefix>.revocations.<kind>`
 * sealed with the cluster's bus key, wait for the JetStream ack, close. Creates a missing
 * stream but never changes the members' retention. Never throws for a delivery failure.
 */
export async function publishOnce(request: unknown, opts: PublishOnceOptions): Promise<PublishOnceResult> {
  const { settings, origin } = opts;
  if (settings.nats === null) return { kind: 'refused', errors: ['cluster.nats is not configured'] };
  const built = buildRevocation(request, { nowMs: Date.now(), maxLifetimeS: settings.maxLifetimeS, origin, knownIssuers: opts.knownIssuers, skewS: opts.skewS ?? MIN_SKEW_S });
  if (!built.ok) return { kind: 'refused', errors: built.errors };
  let transport: NatsTransport;
  let bus: MessageBus;
  try {
    const connection = natsConnectionOptions(settings.nats, `portcullis revoke ${origin}`);
    bus = new MessageBus(transport = new NatsTransport({ connection }), new Codec(), subjects(settings.prefix), busAuthFrom(settings.auth));
  } catch (err) {
    // an unset password or bus key variable, an unreadable key file
    return { kind: 'refused', errors: [(err as Error).message] };
  }
  transport.start();
  let outbox: RevocationOutbox | null = null;
  try {
    try {
      await transport.whenConnected(opts.connectTimeoutMs ?? 5_000);
    } catch (err) {
      return { kind: 'failed', message: `${(err as Error).message} (${shownServers(settings.nats.servers)})` };
    }
    const stream = new RevocationStream(transport.connection()!, {
      subjects: bus.subjects, maxAgeMs: (settings.maxLifetimeS + STREAM_AGE_MARGIN_S) * 1000, replicas: settings.replicas,
    });
    const through = (): string => transport.connection()?.getServer() ?? shownServers(settings.nats!.servers);
    const waitMs = opts.leaderWaitMs ?? LEADER_WAIT_MS;
    const deadline = Date.now() + waitMs;
    let position: StreamPosition;
    for (;;) {
      // Create it if no member has yet, but never shrink the running members' retention (max age) from
      // a config that may differ from theirs: that would drop live revocations from the stream.
      // Asked again while its leader does not answer: before, a frozen leader failed the command at once
      // (TIMEOUT) although the others elected a new one seconds later.
      try { position = await stream.ensure({ update: false }); break; } catch (err) {
        // every JetStream server answers its API: no responders there means none is reachable, not an election
        if (noJetStream(err)) return { kind: 'failed', message: `revocation stream: ${noJetStreamMessage(err, transport.connection()?.getServer() ?? shownServers(settings.nats.servers))}` };
        if (!leaderless(err)) throw err;
        if (Date.now() + RETRY_MS >= deadline) {
          return { kind: 'failed', message: `no leader of the revocation stream ${stream.name} answered within ${waitMs / 1000} s (${(err as Error).message}): the revocation was not stored and not sent — its replicas need a majority of their servers (2 of 3) up and reachable from ${transport.connection()?.getServer() ?? shownServers(settings.nats.servers)}; run the command again once it has one` };
        }
        await sleep(RETRY_MS);
      }
    }
    // Members refuse (and then fail closed on) a revocation beyond their bound: say it here instead.
    // The stream also holds entries already past their exp, so this errs on the side of refusing.
    if (position.messages >= settings.maxRevocations) {
      return { kind: 'failed', message: `the revocation stream holds ${position.messages} entries, cluster.revocation.max_entries is ${settings.maxRevocations}: revoke by --sub, --client or --kid to cover many tokens with one entry, or use --admin (it knows the members' exact store size)` };
    }
    outbox = new RevocationOutbox(bus, () => stream, opts.ackTimeoutMs ?? 5_000);
    const r = built.record;
    const msg: RevocationAdded = revocationAdded(r, wallNow());
    await opts.beforePublish?.();
    let o = await outbox.publish(msg);
    // No responders on the stream's subjects: no leader takes them (its server died and the others elect
    // one, ~5 s), or no JetStream at all — its account API tells them apart. Before, this bare 503 failed
    // the command at once ("run the command again") in the middle of an election.
    const untaken = !o.persisted && noResponders({ message: o.error });
    // the members' live subscription covers the stream's subjects: no responders means none of them got it
    // either (before, these lines said "members connected now received it live" — nobody had it)
    const live = (error: string): string => (noResponders({ message: error }) ? `no member received it live either (nothing listened on ${bus.subjects.revocation(r.kind)})` : 'members connected now received it live');
    if (untaken) {
      const missing = await jetStreamMissing(transport.connection()!);
      if (missing !== null) return { kind: 'failed', message: `revocation stream: ${noJetStreamMessage(missing, through())}: the revocation was not stored; ${live(o.persisted ? '' : o.error)}` };
    }
    // the outbox retries with the same message id: a retry after a lost ack is stored once (`duplicate`);
    // also once nats.js has reconnected through another server (before, the server this command reached
    // dying after the stream check failed it at once, "NATS not connected")
    if (!o.persisted && (untaken || leaderless({ message: o.error }) || lostConnection(o.error))) o = await within(outbox.stored(msg.id), deadline - Date.now(), o);
    // the live copy the outbox sent goes to the same subject: refused the same way, it reached no member
    if (!o.persisted && /Permissions Violation/i.test(o.error)) {
      return { kind: 'failed', message: `this NATS user may not publish on ${bus.subjects.revocation(r.kind)} (${o.error}): nothing was stored or sent — allow it to publish on ${bus.subjects.revocationsAll}` };
    }
    if (!o.persisted && untaken) {
      return { kind: 'failed', message: `not stored: the revocation stream ${stream.name} had no leader within ${waitMs / 1000} s (${o.error}: no server took its subjects) — its replicas need a majority of their servers (2 of 3) up and reachable from ${through()}; ${live(o.error)} — run the command again once it has one` };
    }
    if (!o.persisted) {
      const why = leaderless({ message: o.error }) ? `the stream confirmed nothing within ${waitMs / 1000} s (${o.error})` : `not stored in the revocation stream (${o.error})`;
      return { kind: 'failed', message: `${why}: the revocation may not be stored; ${live(o.error)} — run the command again to store it` };
    }
    return { kind: 'stored', record: r, stream: stream.name, seq: o.seq, duplicate: o.duplicate };
  } catch (err) {
    return { kind: 'failed', message: `revocation stream: ${(err as Error).message}` };
  } finally {
    outbox?.close();
    await transport.close();
  }
}

/** No answer yet (an election, a frozen leader), or an answer from a leader that has lost its quorum: worth asking again. */
function leaderless(err: unknown): boolean {
  return noAnswerYet(err) || /has no quorum/.test(String((err as { message?: unknown })?.message ?? ''));
}

/** The outbox found no connection (or nats.js lost it under the publish): it retries once reconnected. */
function lostConnection(error: string): boolean {
  return error === NOT_CONNECTED || /^(DISCONNECT|CONNECTION_CLOSED)$/.test(error);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`'s outcome, or `otherwise` once `ms` passed (the timer cleared either way). */
async function within<T>(p: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => { timer = setTimeout(() => r(otherwise), Math.max(0, ms)); })]);
  } finally {
    clearTimeout(timer);
  }
}
