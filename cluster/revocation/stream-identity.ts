// Which stream the follower's position counts in: the creation time the stream reported and the
// bytes stored at the last sequence applied, so that a stream made anew (its sequences restarted)
// is told from the same stream under a new creation time (nats-server 2.9: nats-server#8470).
import type { StreamPosition } from './revocation-stream.js';

export class StreamIdentity {
  /** Creation time of the stream the follower's `lastSeq` counts in; null before the first answer. */
  created: string | null = null;
  /** The stored bytes of sequence `lastSeq` (null: not read, or gone): what tells the same stream under a new creation time. */
  lastData: Uint8Array | null = null;
  /** Times the stream reported a new creation time while still holding `lastData` at `lastSeq` (the same stream). */
  createdChanged = 0;

  /** Only the creation time differs (as many sequences): a stream made anew and refilled past `lastSeq`, or the same one under a time nats-server 2.9 changed. */
  onlyCreatedChanged(lastSeq: number, p: StreamPosition): boolean {
    return lastSeq > 0 && this.lastData !== null && p.lastSeq >= lastSeq && p.created !== undefined && this.created !== null && p.created !== this.created;
  }

  /** Is `p` a different stream from the one `lastSeq` counts in (recreated: new creation time, or fewer sequences than we applied)? */
  renewed(lastSeq: number, p: StreamPosition): boolean {
    if (lastSeq === 0) return false;
    return p.lastSeq < lastSeq || (p.created !== undefined && this.created !== null && p.created !== this.created);
  }

  /** The stream answered at `p`: its creation time (when it reports one) is the one counted in from now. */
  positioned(p: StreamPosition): void {
    this.created = p.created ?? this.created;
  }

  /** The same messages under the new creation time of `p` (read back at `lastSeq`): the same stream, followed on. */
  sameUnderNewTime(p: StreamPosition): void {
    this.createdChanged++;
    this.positioned(p);
  }

  /** The message at the new `lastSeq` (null: none stored, a hole): its bytes are copied (the consumer reuses its buffer). */
  delivered(data: Uint8Array | null): void {
    this.lastData = data === null ? null : Uint8Array.from(data);
  }
}
