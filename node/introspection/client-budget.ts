// The optional per-client hard cap on one issuer's introspection places (`introspection.per_client_max`):
// how many lookups each client has started that still hold a place (waiting, on the wire, or late on
// the wire); the client key an address is charged under lives in node/pipeline/client-key.ts.

/**
 * Places held per client key. A key is in the table only while it holds a place, so the table never
 * holds more keys than there are places held at once (bounded by the caller's `connections` +
 * `max_pending`, plus lease waits in a cluster): a flood of invented addresses cannot grow it.
 */
export class ClientBudget {
  readonly #max: number;
  readonly #held = new Map<string, number>();

  /** `max`: places one client may hold at once; ≥ 1. */
  constructor(max: number) { this.#max = max; }

  /** Take a place for `client`; false (nothing taken) when it already holds `max`. */
  take(client: string): boolean {
    const n = this.#held.get(client) ?? 0;
    if (n >= this.#max) return false;
    this.#held.set(client, n + 1);
    return true;
  }

  /** Give back a place `take` gave. */
  give(client: string): void {
    const n = this.#held.get(client) ?? 0;
    if (n <= 1) this.#held.delete(client);
    else this.#held.set(client, n - 1);
  }

  /** Client keys holding a place now. */
  get clients(): number { return this.#held.size; }
}

export { clientKey } from '../pipeline/client-key.js';
