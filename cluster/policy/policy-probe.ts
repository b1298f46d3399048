// Asks the policy bucket's stream leader for the latest version every 250 ms. A member's NATS
// connection can stay up while its NATS server is cut off from the others (a host's link down):
// the watch then delivers nothing, and after the link returns it may take seconds to catch up.
// The probe notices when the leader answers again and hands its copy over at once, and says
// when the bucket itself is gone (deleted by someone with NATS credentials).
import type { Logger } from '../../node/log.js';
import { isNotFound } from '../revocation/index.js';
import type { PolicyStore, StoredValue } from './policy-store.js';

/** How often the leader is asked, and how long an answer may take, ms. */
const PROBE_MS = 250;
const PROBE_TIMEOUT_MS = 1_000;

export class LeaderProbe {
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  /** Since when the leader has not answered; null while it does. */
  private isolatedSince: number | null = null;
  /** When the leader last answered (monotonic ms: its silence decides fail_closed_after_ms; the probe's start before the first answer). */
  private answeredAt = performance.now();
  /** The server answered that the bucket's stream does not exist (logged once until it answers again). */
  private missing = false;

  /**
   * `known`: the highest revision this member looked at (the leader's copy is fetched only when newer).
   * `onAnswer`: the leader's latest value (null: nothing newer than `known`, or nothing pushed), whether its last request
   * before this one failed (this member was cut off), and how long it had not answered, ms.
   * `logger`: where a missing bucket is reported (a warning, once per disappearance).
   */
  constructor(private readonly store: PolicyStore, private readonly active: () => boolean, private readonly known: () => number, private readonly onAnswer: (v: StoredValue | null, wasIsolated: boolean, silentMs: number) => void, private readonly logger?: Logger) {}

  start(): void {
    this.timer = setInterval(() => void this.probe(), PROBE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private async probe(): Promise<void> {
    if (this.probing || !this.active()) return;
    this.probing = true;
    try {
      const latest = await this.store.latestFromLeader(PROBE_TIMEOUT_MS, this.known());
      const wasIsolated = this.isolatedSince !== null;
      const now = performance.now();
      const silentMs = now - this.answeredAt;
      this.isolatedSince = null;
      this.answeredAt = now;
      if (this.missing) this.logger?.warn({ known_revision: this.known() }, 'policy: the bucket exists again; versions not newer than the one running here are ignored (push until the version passes it)');
      this.missing = false;
      this.onAnswer(latest, wasIsolated, silentMs);
    } catch (err) {
      this.isolatedSince ??= performance.now();
      if (isNotFound(err) && !this.missing) {
        this.missing = true;
        this.logger?.warn({ known_revision: this.known() }, 'policy: the bucket is gone (deleted by someone with NATS credentials?): keeping the running version, counted as cut off from the bucket');
      }
    } finally {
      this.probing = false;
    }
  }
}
