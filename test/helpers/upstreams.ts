// Small node:http upstreams for integration tests where the echo upstream is not
// enough: a scriptable one that records what reached it, a JWKS server for the fixture key,
// a port nobody listens on, and a reader of a process's resident memory.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fixtureKeys, jwksOf } from '../fixtures/keys.js';
import { TEST_AUDIENCE, TEST_ISSUER } from '../fixtures/tokens.js';

/** What one request looked like when it reached the upstream. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  bodyBytes: number;
  /** The upstream saw 'close' on the request before the response finished. */
  aborted: boolean;
  complete: boolean;
}

export interface ScriptedUpstream {
  url: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/** A node:http upstream whose handler the test writes; every request is recorded in `seen`. */
export async function startScriptedUpstream(handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void): Promise<ScriptedUpstream> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, aborted: false, complete: false };
    seen.push(s);
    req.on('data', (c: Buffer) => { s.bodyBytes += c.length; });
    req.on('end', () => { s.complete = true; });
    res.on('close', () => { if (!res.writableFinished) s.aborted = true; });
    handler(req, res, s);
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, seen,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** A scripted upstream answering every request 200 with the fixture RS256 public key as a JWKS (application/json). */
export function startFixtureJwks(): Promise<ScriptedUpstream> {
  return startScriptedUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf([fixtureKeys().RS256])));
  });
}

/** The issuer block of the fixture tokens (TEST_ISSUER, TEST_AUDIENCE, RS256, no discovery) with its keys at `${jwksUrl}/jwks` (startFixtureJwks or a test's own); `extra` adds or overrides fields. */
export function fixtureIssuer(jwksUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer: TEST_ISSUER, jwks_uri: `${jwksUrl}/jwks`, discovery: false, audiences: [TEST_AUDIENCE], algorithms: ['RS256'], ...extra };
}

/**
 * A loopback port with nobody listening (connect → ECONNREFUSED) that no other test can take: a
 * privileged port below the ephemeral range (port-0 listeners never get one), checked refused.
 * (A port-0 port closed again was handed to another test's listener in a loaded CI run: the
 * "dead" Portcullis behind an edge answered as someone's admin API.)
 */
export async function deadPort(): Promise<number> {
  for (const port of [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]) {
    const refused = await new Promise<boolean>((resolve) => {
      const c = connect({ host: '127.0.0.1', port });
      c.once('connect', () => { c.destroy(); resolve(false); });
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('deadPort: every candidate port below 20 on 127.0.0.1 accepts connections — stop what listens there');
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

