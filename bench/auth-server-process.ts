// The embedded authorization server (cluster/cli/demo/auth-server) in a process of its own for the
// token scenarios, so minting and introspection never share the load generator's event loop.
// `node dist/bench/auth-server-process.js` prints {"url","issuer","controlPort"}; the bench drives
// it over a second loopback port: POST /mint, GET /counters, POST /counters/reset.
import { pathToFileURL } from 'node:url';
import { startAuthServer } from '../cluster/cli/demo/auth-server.js';
import { startAuthControl } from '../cluster/cli/demo/auth-control.js';

export type { MintRequest } from '../cluster/cli/demo/auth-control.js';

async function main(): Promise<void> {
  const as = await startAuthServer({ algorithms: ['RS256', 'ES256'], tokenTtlSeconds: 3600 });
  const { server: control, port: controlPort } = await startAuthControl(as, '127.0.0.1', 0);
  process.stdout.write(JSON.stringify({ url: as.url, issuer: as.issuer, controlPort }) + '\n');
  const stop = (): void => {
    control.close();
    control.closeAllConnections();
    void as.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`auth-server-process: ${String(err)}\n`);
    process.exit(1);
  });
}
