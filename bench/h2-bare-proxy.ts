// The floor node:http2 sets for an HTTP/2 hop on this machine: an h2c server (prior knowledge, the
// core 'stream' API) that opens each stream on one h2c session to the upstream and pipes the
// answer back, trailers included (so gRPC works) — no routing, no token, no header rules, no
// metrics, no logs. What Portcullis costs above this is ours; what this costs is node:http2's.
// `node dist/bench/h2-bare-proxy.js --upstream PORT [--port N]` prints {"port":N}.
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * Listen on 127.0.0.1:port (0 = any) and relay every stream to 127.0.0.1:upstreamPort over one h2c
 * session. The answer's trailers are relayed when the response can carry any (gRPC, or a `trailer`
 * header); otherwise END_STREAM rides on the last DATA frame, as Portcullis does. An upstream error
 * resets the client stream (INTERNAL_ERROR); a client reset cancels the upstream stream.
 */
export function startBareH2Proxy(upstreamPort: number, port = 0): Promise<{ close(): void; port: number }> {
  const origin = `http://127.0.0.1:${upstreamPort}`;
  let up: http2.ClientHttp2Session | null = null;
  const session = (): http2.ClientHttp2Session => {
    if (up === null || up.closed || up.destroyed) {
      const s = http2.connect(origin);
      s.on('error', () => { /* each stream reports it */ });
      s.on('close', () => { if (up === s) up = null; });
      up = s;
    }
    return up;
  };
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => { /* client went away */ });
    const out: OutgoingHttpHeaders = {};
    for (const k of Object.keys(headers)) if (k !== ':scheme' && k !== ':authority') out[k] = headers[k];
    const req = session().request(out, { endStream: stream.endAfterHeaders });
    if (!stream.endAfterHeaders) stream.pipe(req);
    let trailers: OutgoingHttpHeaders | undefined;
    req.on('response', (h) => {
      const res: OutgoingHttpHeaders = {};
      for (const k of Object.keys(h)) if (k[0] !== ':' || k === ':status') res[k] = h[k];
      const ct = h['content-type'];
      const waitForTrailers = h.trailer !== undefined || (typeof ct === 'string' && ct.startsWith('application/grpc'));
      if (stream.destroyed) return;
      stream.respond(res, { waitForTrailers });
      if (waitForTrailers) stream.once('wantTrailers', () => { stream.sendTrailers(trailers ?? {}); });
    });
    req.on('trailers', (t) => {
      trailers = {};
      for (const k of Object.keys(t)) if (k[0] !== ':') trailers[k] = t[k];
    });
    req.on('data', (d: Buffer) => { if (!stream.destroyed) stream.write(d); });
    req.on('end', () => { if (!stream.destroyed) stream.end(); });
    req.on('error', () => { if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR); });
    stream.on('close', () => { if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL); });
  });
  server.on('sessionError', () => { /* a load generator closing mid-run */ });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ port: typeof addr === 'object' && addr !== null ? addr.port : port, close: () => { server.close(); up?.close(); } });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } }, strict: true });
  if (values.upstream === undefined) throw new Error('--upstream PORT is required');
  const p = await startBareH2Proxy(Number(values.upstream), Number(values.port ?? 0));
  process.stdout.write(JSON.stringify({ port: p.port }) + '\n');
  const stop = (): void => { p.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`h2-bare-proxy: ${String(err)}\n`);
    process.exit(1);
  });
}
