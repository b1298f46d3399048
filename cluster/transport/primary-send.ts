// A forked process's messages to its parent (a `--workers` worker to its primary) over the IPC channel.
// A parent that died or closed the channel leaves the child to its own 'disconnect' handling; a send
// caught in that moment fails with EPIPE / ERR_IPC_CHANNEL_CLOSED, which without a callback Node
// raises as an unhandled 'error' event on `process`: the child crashed instead of draining.

/** A failed send needs nothing more: the 'disconnect' that follows (or came first) ends the child. */
const ignoreSendError = (_err: Error | null): void => {};

/** Send `m` to the parent if the channel is open; a send that fails is dropped, never thrown. */
export function toPrimary(m: unknown): void {
  if (process.send === undefined || !process.connected) return;
  process.send(m, undefined, undefined, ignoreSendError);
}
