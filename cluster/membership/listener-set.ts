// The listeners of one membership event (a view change, a restart, a goodbye, an id conflict): added with
// an unsubscribe function, each called in turn, and a listener that throws stops neither the others nor membership.

/** Listeners of one event carrying a `T`. */
export class ListenerSet<T> {
  private readonly set = new Set<(value: T) => void>();

  /** Add `listener`; returns the function that removes it. */
  add(listener: (value: T) => void): () => void {
    this.set.add(listener);
    return () => { this.set.delete(listener); };
  }

  /** Call every listener with `value`; a listener's failure is swallowed (it must not stop the others). */
  emit(value: T): void {
    for (const l of this.set) {
      try { l(value); } catch { /* a listener's failure must not stop the others, nor membership */ }
    }
  }

  clear(): void { this.set.clear(); }
}
