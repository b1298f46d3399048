// Reading a response's Cache-Control as a client or a shared cache does: every directive, whatever
// number of header lines carried them (the proxy may add a `private` line beside the upstream's own).
import type { IncomingHttpHeaders } from 'node:http2';

/** Every Cache-Control directive of a response, however many lines carried them (lower case, trimmed). */
export function directives(headers: Record<string, string | string[] | undefined> | IncomingHttpHeaders): string[] {
  const v = headers['cache-control'];
  const lines = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return lines.flatMap((l) => l.split(',').map((d) => d.trim().toLowerCase())).filter((d) => d !== '');
}
