// The benchmarks' upstream: node:http answering `200 hello` to every request, keep-alive,
// as cheaply as node:http allows. Run it in its own process (`node dist/bench/cheap-upstream.js
// [--port N] [--host H]`, prints {"port":N}) so it never shares the load generator's event loop.
import { createServer, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const BODY = Buffer.from('hello');
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) };

/**
 * Listen on host:port (default 127.0.0.1, port 0 = any free port) and answer `200 hello`.
 * Idle keep-alive connections live 60 s, longer than any proxy's pool keeps them (undici 4 s,
 * HAProxy `timeout server`), so the upstream never closes a socket a proxy is about to reuse.
 */
export function startCheapUpstream(port = 0, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 }, (_req, res) => {
    // An unread request body is dumped by node:http once the response ends.
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
  server.maxRequestsPerSocket = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr !== null ? addr.port : port });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } }, strict: true });
  const { server, port } = await startCheapUpstream(Number(values.port ?? 0), values.host ?? '127.0.0.1');
  process.stdout.write(JSON.stringify({ port }) + '\n');
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`cheap-upstream: ${String(err)}\n`);
    process.exit(1);
  });
}
