// Process entry for the forward-auth bench's reference points: an "authorization service" that
// decides nothing — a bare uWebSockets.js app answering 200 with an empty body to every request,
// on the same uWS build Portcullis runs on. Loaded directly it is the floor of what one verdict
// can cost Portcullis's listener (uws-floor); behind nginx auth_request it is the ceiling of
// what any auth_request service can give nginx without an edge cache (nginx+zero).
// argv: [--unix PATH] (listen on a unix-domain socket instead of 127.0.0.1:0).
// Prints {"port":N} or {"unix":PATH} once listening.
import { parseArgs } from 'node:util';
import uWS from 'uWebSockets.js';

const { values } = parseArgs({ options: { unix: { type: 'string' } }, strict: true });
const app = uWS.App();
app.any('/*', (res) => { res.end(''); });
const ready = (s: unknown, what: Record<string, unknown>): void => {
  if (s === false) { process.stderr.write(`zero-auth: cannot listen ${JSON.stringify(what)}\n`); process.exit(1); }
  process.stdout.write(JSON.stringify(what) + '\n');
};
if (values.unix !== undefined) app.listen_unix((s) => ready(s, { unix: values.unix }), values.unix);
else app.listen('127.0.0.1', 0, (s) => ready(s, { port: s === false ? 0 : uWS.us_socket_local_port(s) }));
process.on('SIGTERM', () => process.exit(0));
