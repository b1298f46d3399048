// How the coordinator's last results were had, for the client's `onResult` hook that follows: a
// peer's result (everyone has it: not broadcast again) or a granted lease whose holder called the
// server. A granted lease whose hook never came (the token evicted mid-flight) is released.

/** How the coordinator's result must be treated by the `onResult` hook that follows. */
export interface Mark { readonly kind: 'remote' | 'granted'; readonly issuer: string; readonly key: string }

export class ResultMarks {
  private readonly marks = new Map<string, Mark>();
  private flush: NodeJS.Immediate | null = null;

  /** `release`: frees a granted lease nobody's hook consumed. */
  constructor(private readonly release: (m: Mark) => void) {}

  /**
   * The client calls `onResult` synchronously after the coordinator's promise settles, so by
   * the next macrotask every mark is consumed — except when it skipped the hook (the token was
   * evicted mid-flight): a granted lease is then released so waiters do not sit out the lease.
   */
  set(id: string, m: Mark): void {
    this.marks.set(id, m);
    this.flush ??= setImmediate(() => {
      this.flush = null;
      for (const x of this.marks.values()) if (x.kind === 'granted') this.release(x);
      this.marks.clear();
    });
  }

  /** The mark of lease `id`, consumed (undefined: not the coordinator's result). */
  take(id: string): Mark | undefined {
    const m = this.marks.get(id);
    if (m !== undefined) this.marks.delete(id);
    return m;
  }

  /** Closing: forget every mark, release nothing. */
  clear(): void {
    if (this.flush !== null) { clearImmediate(this.flush); this.flush = null; }
    this.marks.clear();
  }
}
