// How many `unauthorized` audit records (admin calls without a valid token) are written one by one:
// the first UNAUTHORIZED_PER_WINDOW of each second; the rest of that second become one summary record
// (how many, from which addresses, on which actions). Anonymous traffic must not fill the audit disk —
// one client without a token wrote ~7.7k lines (1.8 MB) a second — while the trail still shows it.
import type { AuditRecord } from './audit-record.js';

/** `unauthorized` records written one by one per window. */
export const UNAUTHORIZED_PER_WINDOW = 20;
/** The window, ms. */
export const UNAUTHORIZED_WINDOW_MS = 1_000; // 1 s
/** Distinct client addresses a summary names (the rest counted). */
const ADDRESSES_NAMED = 8;

/** Counts one window's `unauthorized` records; `write` receives the records to write (one by one, then the summary). */
export class UnauthorizedBudget {
  #windowStart = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  #held = 0;
  #addresses = new Set<string>();
  #otherAddresses = 0;
  #actions = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  /** Records folded into summaries since start (metric `portcullis_audit_unauthorized_coalesced_total`). */
  coalesced = 0;

  constructor(private readonly write: (r: AuditRecord) => void) {}

  /** Write `r` now, or count it into this window's summary. */
  note(r: AuditRecord): void {
    const now = performance.now();
    if (now - this.#windowStart >= UNAUTHORIZED_WINDOW_MS) {
      this.flush();
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (++this.#inWindow <= UNAUTHORIZED_PER_WINDOW) { this.write(r); return; }
    this.#held++;
    this.coalesced++;
    const address = 'address' in r.actor ? r.actor.address : '';
    if (this.#addresses.has(address)) { /* named already */ } else if (this.#addresses.size < ADDRESSES_NAMED) this.#addresses.add(address); else this.#otherAddresses++;
    // actions come from the admin API's own endpoints (an unknown path is a 404, not audited): a bounded set
    this.#actions.set(r.action, (this.#actions.get(r.action) ?? 0) + 1);
    if (this.#timer === null) {
      this.#timer = setTimeout(() => { this.#timer = null; this.flush(); }, Math.max(0, this.#windowStart + UNAUTHORIZED_WINDOW_MS - now));
      this.#timer.unref();
    }
  }

  /** Write the summary of what this window held back, if anything (at the window's end, and at close). */
  flush(): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    if (this.#held === 0) return;
    const addresses = [...this.#addresses];
    this.write({
      action: 'admin.unauthorized_coalesced',
      actor: { kind: 'unauthenticated', token: null, address: addresses[0] ?? '' },
      outcome: 'unauthorized',
      status: 401,
      detail: { records: this.#held, window_ms: UNAUTHORIZED_WINDOW_MS, addresses, other_addresses: this.#otherAddresses, actions: Object.fromEntries(this.#actions) },
    });
    this.#held = 0;
    this.#addresses = new Set();
    this.#otherAddresses = 0;
    this.#actions = new Map();
  }
}
