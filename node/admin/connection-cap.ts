// The admin listener's connection cap (admin.max_connections): at the cap, a new connection closes
// the oldest one not serving a request (idle, or still sending its head), else is closed itself — so
// a local flood holds at most that many descriptors and the operator's next call still gets a slot.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Sockets serving a request right now (between 'request' and the response's end). */
const BUSY = Symbol('portcullis.admin.busy');
type Tracked = Socket & { [BUSY]?: boolean };

/** Keep `server` at `max` open connections at most. */
export function capConnections(server: Server, max: number): void {
  // oldest first: a Set iterates in insertion order
  const open = new Set<Tracked>();
  server.on('connection', (socket: Tracked) => {
    if (open.size >= max) {
      let victim: Tracked | null = null;
      for (const s of open) if (s[BUSY] !== true) { victim = s; break; }
      if (victim === null) { socket.destroy(); return; }
      open.delete(victim);
      victim.destroy();
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const s = req.socket as Tracked;
    s[BUSY] = true;
    res.once('close', () => { s[BUSY] = false; });
  });
}
