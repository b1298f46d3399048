// A request given to a connection that already served (taken from idle, or written right after an
// answer) leaves only at the end of the event-loop turn: bytes the upstream sent before it, read in the
// same turn — a later read of the same socket, or a read after the one that took the connection — then
// find no request written and drop the connection.
import type net from 'node:net';

/** The connection side of a held write (H1Connection). */
export interface HeldWriter {
  readonly socket: net.Socket;
  /** True from the hold until the end of the turn: nothing written on the socket has left yet. */
  writesHeld: boolean;
}

let held: HeldWriter[] = [];
let scheduled = false;

/**
 * Cork `c`'s socket until the turn's I/O callbacks have run (one setImmediate for every connection
 * held in the turn). What is written meanwhile — the head, an inline body, requests pipelined behind
 * it — leaves in one write at the end of the turn; destroyed before then, nothing of it leaves.
 */
export function holdWritesThisTurn(c: HeldWriter): void {
  if (c.writesHeld) return;
  c.writesHeld = true;
  c.socket.cork();
  held.push(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(releaseHeld);
  }
}

function releaseHeld(): void {
  scheduled = false;
  const cs = held;
  held = [];
  for (const c of cs) {
    c.writesHeld = false;
    if (!c.socket.destroyed) c.socket.uncork();
  }
}
