// The HTTP/2 scenarios' upstream: an h2c server (prior knowledge) answering `200 hello` to every
// stream, or with --grpc a @grpc/grpc-js server whose unary `/bench.Echo/Say` echoes its request.
// Run it in its own process (`node dist/bench/h2-upstream.js [--grpc] [--port N]`, prints
// {"port":N}) so it never shares the load generator's event loop.
import http2 from 'node:http2';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const BODY = Buffer.from('hello');
const HEADERS = { ':status': 200, 'content-type': 'text/plain', 'content-length': String(BODY.length) };

/** The gRPC method the gRPC scenario calls (raw bytes in and out: no protobuf cost on either side). */
export const GRPC_ECHO_PATH = '/bench.Echo/Say';

/** Listen on 127.0.0.1:port (0 = any) with h2c; every stream gets `200 hello`. Streams per session: 1000 (h2load -m stays under it). */
export function startH2cUpstream(port = 0): Promise<{ close(): void; port: number }> {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream) => {
    // a request body (none in the bench) is drained by node:http2 once the stream ends
    stream.respond(HEADERS);
    stream.end(BODY);
  });
  server.on('sessionError', () => { /* a load generator closing mid-run */ });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ port: typeof addr === 'object' && addr !== null ? addr.port : port, close: () => server.close() });
    });
  });
}

/** Listen with a grpc-js server exposing GRPC_ECHO_PATH; resolves with its port. */
export async function startGrpcUpstream(port = 0): Promise<{ close(): void; port: number }> {
  const grpc = await import('@grpc/grpc-js');
  const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
  const server = new grpc.Server();
  server.addService({ Say: { path: GRPC_ECHO_PATH, requestStream: false, responseStream: false, ...raw } }, {
    Say: (call: { request: Buffer }, cb: (e: null, b: Buffer) => void) => cb(null, call.request),
  });
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port: bound, close: () => server.forceShutdown() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, grpc: { type: 'boolean' } }, strict: true });
  const port = Number(values.port ?? 0);
  const up = values.grpc === true ? await startGrpcUpstream(port) : await startH2cUpstream(port);
  process.stdout.write(JSON.stringify({ port: up.port }) + '\n');
  const stop = (): void => { up.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`h2-upstream: ${String(err)}\n`);
    process.exit(1);
  });
}
