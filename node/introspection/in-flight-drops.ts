// Subject drops (an IdP's token-claims-change, `drop_cache`) that land while introspection calls
// are on the wire: an answer the authorization server wrote before the drop and delivered after it
// must not go back into the cache (nor, through the fill, into every member's).

/** Subjects remembered at once while calls are in flight; past it every call in flight counts as overtaken (fail closed: one more introspection). */
export const MAX_DROPS_IN_FLIGHT = 10_000;

/** Marks and drops of one introspection client. */
export class InFlightDrops {
  #seq = 0;
  /** Calls that started before this mark are overtaken whatever their subject (the memory ran full). */
  #floor = 0;
  readonly #subs = new Map<string, number>();

  /** The mark a call takes when it starts. */
  mark(): number {
    return this.#seq;
  }

  /** `sub` was dropped now; `busy`: a call is on the wire (else nothing needs remembering). */
  note(sub: string, busy: boolean): void {
    if (!busy) { this.#subs.clear(); return; }
    this.#seq++;
    this.#subs.delete(sub);
    this.#subs.set(sub, this.#seq);
    if (this.#subs.size > MAX_DROPS_IN_FLIGHT) { this.#floor = this.#seq; this.#subs.clear(); }
  }

  /** Was the subject of `claims` (an answer's) dropped after the call marked `mark` started? */
  overtaken(mark: number, claims: Readonly<Record<string, unknown>> | null): boolean {
    if (mark === this.#seq) return false;
    if (mark < this.#floor) return true;
    const sub = claims?.sub;
    return typeof sub === 'string' && (this.#subs.get(sub) ?? 0) > mark;
  }
}
