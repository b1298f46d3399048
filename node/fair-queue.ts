// Jobs waiting for a shared resource (introspection calls for a connection, JWT verifications for a pool
// thread), one lane per client key: the next free place goes to the next client in rotation (round robin), and
// a full queue makes room for a client holding at least two fewer waiting jobs by pushing out the newest job
// of the client holding the most.

/** A queued item names the client key it is charged to ('' when none is known). */
export interface Queued {
  readonly client: string;
}

interface Node<J> {
  readonly job: J;
  readonly lane: Lane<J>;
  prev: Node<J> | null;
  next: Node<J> | null;
}

/** One client's waiting jobs, oldest first (a linked list: an expired job leaves from the middle in O(1)). */
interface Lane<J> {
  readonly client: string;
  head: Node<J> | null;
  tail: Node<J> | null;
  count: number;
  /** Neighbours among the lanes holding as many jobs (a bucket, in the order they reached that count). */
  before: Lane<J> | null;
  after: Lane<J> | null;
}

/** The lanes holding one count of jobs, the one that reached it last at `last`. */
interface Bucket<J> {
  first: Lane<J> | null;
  last: Lane<J> | null;
}

/**
 * Round-robin queue over client lanes, at most `capacity` jobs. A lane exists only while its client has a
 * job waiting, so memory is bounded by `capacity` whatever number of client keys arrive. With one client it
 * is a plain FIFO of `capacity` places. Every operation is O(1).
 */
export class FairQueue<J extends Queued> {
  readonly #capacity: number;
  /** Lanes with a job waiting, in rotation order: the first one is served next, then moves to the back. */
  readonly #lanes = new Map<string, Lane<J>>();
  readonly #nodes = new Map<J, Node<J>>();
  /** Lanes by how many jobs they hold (n → the lanes holding n), to find the heaviest in O(1). */
  readonly #buckets = new Map<number, Bucket<J>>();
  /** The most jobs any lane holds; 0 when empty. */
  #most = 0;

  /** `capacity`: most jobs waiting at once (introspection `max_pending`); ≥ 0. */
  constructor(capacity: number) { this.#capacity = capacity; }

  /** Jobs waiting. */
  get size(): number { return this.#nodes.size; }

  /** Client keys with a job waiting. */
  get clients(): number { return this.#lanes.size; }

  /** Jobs `client` has waiting. */
  held(client: string): number { return this.#lanes.get(client)?.count ?? 0; }

  /**
   * Whether a job of `client` would be queued: there is room, or the queue is full and `client`, once this
   * job is queued, still holds fewer jobs than the client holding the most holds now (whose newest job `push`
   * then pushes out). So a client's only waiting job is never pushed out, and a swap that would merely trade
   * who holds the most (one holding 2 pushed out for one going from 1 to 2) is refused. False: refuse it.
   */
  admits(client: string): boolean {
    return this.#nodes.size < this.#capacity || this.held(client) + 1 < this.#most;
  }

  /**
   * Queue `job` behind its client's other jobs; call only when `admits(job.client)`. Returns the job pushed
   * out to make room — the newest of the client holding the most, at least 2 (of several, the one that reached
   * that count last, so the longest waiting are served, not pushed out) — which the caller answers as refused,
   * or null when there was room.
   */
  push(job: J): J | null {
    let out: J | null = null;
    if (this.#nodes.size >= this.#capacity) {
      const heaviest = this.#buckets.get(this.#most)?.last;
      if (heaviest == null || heaviest.client === job.client || heaviest.tail === null) throw new Error('FairQueue.push: full and nothing to push out (admits() was false)');
      out = heaviest.tail.job;
      this.delete(out);
    }
    let lane = this.#lanes.get(job.client);
    if (lane === undefined) {
      // a new client joins the rotation at its back: every client waiting is served once before it
      lane = { client: job.client, head: null, tail: null, count: 0, before: null, after: null };
      this.#lanes.set(job.client, lane);
    }
    const node: Node<J> = { job, lane, prev: lane.tail, next: null };
    if (lane.tail === null) lane.head = node;
    else lane.tail.next = node;
    lane.tail = node;
    this.#nodes.set(job, node);
    this.#recount(lane, 1);
    return out;
  }

  /** The oldest job of the next client in rotation (that client then moves to the back), or undefined when empty. */
  shift(): J | undefined {
    const lane = this.#lanes.values().next().value;
    if (lane === undefined || lane.head === null) return undefined;
    const job = lane.head.job;
    this.delete(job);
    // to the back of the rotation (a lone lane is its own back: no map churn for the one-client case)
    if (lane.count > 0 && this.#lanes.size > 1) {
      this.#lanes.delete(lane.client);
      this.#lanes.set(lane.client, lane);
    }
    return job;
  }

  /** Take `job` out wherever it waits (its waiter timed out); false when it is not queued. */
  delete(job: J): boolean {
    const node = this.#nodes.get(job);
    if (node === undefined) return false;
    this.#nodes.delete(job);
    const lane = node.lane;
    if (node.prev === null) lane.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) lane.tail = node.prev;
    else node.next.prev = node.prev;
    this.#recount(lane, -1);
    if (lane.count === 0) this.#lanes.delete(lane.client);
    return true;
  }

  /**
   * Take out, from the front of every lane, the jobs `old` says are past their time (a lane is oldest first, so
   * each lane stops at its first young job); returns them. O(lanes + jobs taken).
   */
  takeOld(old: (job: J) => boolean): J[] {
    const out: J[] = [];
    for (const lane of [...this.#lanes.values()]) {
      while (lane.head !== null && old(lane.head.job)) {
        const job = lane.head.job;
        this.delete(job);
        out.push(job);
      }
    }
    return out;
  }

  /** Drop every job (nobody is answered here). */
  clear(): void {
    this.#lanes.clear();
    this.#nodes.clear();
    this.#buckets.clear();
    this.#most = 0;
  }

  /** Move `lane` from its count's bucket to the next one up or down; counts move by one, so the most moves by at most one. */
  #recount(lane: Lane<J>, by: 1 | -1): void {
    const was = lane.count;
    const now = was + by;
    lane.count = now;
    if (was > 0) {
      const from = this.#buckets.get(was)!;
      if (lane.before === null) from.first = lane.after;
      else lane.before.after = lane.after;
      if (lane.after === null) from.last = lane.before;
      else lane.after.before = lane.before;
      lane.before = lane.after = null;
      if (from.first === null) this.#buckets.delete(was);
    }
    if (now > 0) {
      let to = this.#buckets.get(now);
      if (to === undefined) { to = { first: null, last: null }; this.#buckets.set(now, to); }
      lane.before = to.last;
      if (to.last === null) to.first = lane;
      else to.last.after = lane;
      to.last = lane;
    }
    if (now > this.#most) this.#most = now;
    else if (was === this.#most && !this.#buckets.has(was)) this.#most = now;
  }
}
