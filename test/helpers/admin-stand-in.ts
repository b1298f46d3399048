// A stand-in for the admin API's POST /revocations, for CLI tests that check what `revoke` sends:
// it records every request body and answers 201 with the revocation, as the real one does.
import { createServer, type Server } from 'node:http';
import { onTestFinished } from 'vitest';

export interface RecordingAdmin {
  readonly url: string;
  /** Every request body received, in order. */
  readonly bodies: string[];
  close(): Promise<void>;
}

/** Start the stand-in on a loopback port, from inside a test: it is closed when that test ends (or earlier by `close()`). */
export function startRecordingAdmin(): Promise<RecordingAdmin> {
  const bodies: string[] = [];
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      bodies.push(body);
      let asked: { kind?: string; value?: string } = {};
      try { asked = JSON.parse(body) as typeof asked; } catch { /* answered with what was asked: nothing */ }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ revocation: { kind: asked.kind ?? 'jti', value: asked.value, id: 'r1' }, persisted: true }));
    });
  });
  const close = (): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });
  onTestFinished(async () => { if (s.listening) await close(); });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, bodies, close })));
}
