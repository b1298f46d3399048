// The counters of components a reload replaced (an issuer's introspection client, an s2s client),
// kept so the sums the metrics export never go down: a retired component counts on while it drains.
// Gauges (what is held now: cache entries) are not kept: the retired component no longer holds it.

/** A component whose stats are flat numbers. */
export interface Counted<S extends object> { stats(): S }

export class RetiredCounters<S extends object> {
  readonly #folded: Record<string, number> = {};
  readonly #draining = new Set<Counted<S>>();

  /** @param gauges keys whose value is a level, not a count: never carried over */
  constructor(private readonly gauges: ReadonlySet<keyof S & string>) {}

  /** `c` was replaced: its counters stay in the sums; live until `done` settles, then its last values. */
  retire(c: Counted<S>, done: Promise<unknown> = Promise.resolve()): void {
    this.#draining.add(c);
    const fold = (): void => {
      if (!this.#draining.delete(c)) return;
      this.#add(this.#folded, c.stats());
    };
    void done.then(fold, fold);
  }

  /** Add the retired components' counters into `out` (keys it lacks are created). */
  addTo(out: S): void {
    const o = out as Record<string, number>;
    this.#add(o, this.#folded);
    for (const c of this.#draining) this.#add(o, c.stats());
  }

  #add(out: Record<string, number>, from: object): void {
    for (const [k, v] of Object.entries(from) as [keyof S & string, unknown][]) {
      if (typeof v === 'number' && !this.gauges.has(k)) out[k] = (out[k] ?? 0) + v;
    }
  }
}

/** How long a replaced component with no close to wait for is still read live (its calls in flight end within their timeouts); then its last values. */
export const RETIRED_READ_MS = 30_000;

/** Resolves after `ms` (the timer does not hold the process): the drain bound of a component with no close to wait for. */
export function afterMs(ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref(); });
}
