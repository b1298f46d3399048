// What log tooling reads from the proxy's stdout (issue 8 item 14): every JSON line has
// each key once — nested components (auth → jwt → jwks) are one `component` value joined
// with dots, not three `component` keys that most JSON parsers collapse to the last — and
// the `listening` line is a log line like the others (level, time, pid, name), printed
// at any configured level because scripts read the ports from it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';

/** The keys of a JSON object's top level, in order, duplicates kept (JSON.parse would drop them). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) { keys.push(JSON.parse(line.slice(i, j + 1)) as string); expectKey = false; }
      i = j;
    } else if (c === '{' || c === '[') { depth++; if (depth === 1) expectKey = true; }
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

const jsonLines = (p: ProxyProcess): string[] => p.output().split('\n').filter((l) => l.startsWith('{'));

function duplicates(line: string): string[] {
  const keys = topLevelKeys(line);
  return keys.filter((k, i) => keys.indexOf(k) !== i);
}

describe('log lines', () => {
  let as: AuthServer;
  let echo: EchoUpstream;
  const started: ProxyProcess[] = [];

  beforeAll(async () => {
    [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  });

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all([as?.close(), echo?.close()]);
  });

  async function start(level: string, args: string[] = []): Promise<ProxyProcess> {
    const p = await startProxy(baseConfig(echo.url, {
      issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
      log: { level, access: true },
      verifier: { pool_size: 1 },
    }), { env: ADMIN_ENV, args, timeoutMs: 40_000 });
    started.push(p);
    return p;
  }

  it('one key per name: the JWKS line of the auth → jwt → jwks chain carries one component "auth.jwt.jwks"', async () => {
    const p = await start('info');
    await waitFor('jsonLines(p).some((l) => l.includes(\'"jwks loaded"\'))', () => jsonLines(p).some((l) => l.includes('"jwks loaded"')), 10_000, { detail: () => p.output() });
    const jwks = jsonLines(p).find((l) => l.includes('"jwks loaded"'))!;
    expect(duplicates(jwks), jwks).toEqual([]);
    expect(JSON.parse(jwks)).toMatchObject({ component: 'auth.jwt.jwks', issuer: 'demo', level: 30 });
    for (const l of jsonLines(p)) expect(duplicates(l), l).toEqual([]);
  });

  it('the listening line has level and time like every other line, and is printed at log level error too', async () => {
    for (const p of [await start('info'), await start('error')]) {
      const line = jsonLines(p).find((l) => l.includes('"msg":"listening"'))!;
      expect(duplicates(line), line).toEqual([]);
      const o = JSON.parse(line) as Record<string, unknown>;
      expect(o).toMatchObject({ level: 30, msg: 'listening', port: p.port, adminPort: p.adminPort, pid: p.proc.pid });
      expect(typeof o.time).toBe('number');
      expect(o.time).toBeGreaterThan(1e12); // epoch ms, as pino writes it
    }
  });

  it('serve --workers 2: the primary\'s listening line too', async () => {
    const p = await start('warn', ['--workers', '2']);
    const o = JSON.parse(jsonLines(p).find((l) => l.includes('"msg":"listening"'))!) as Record<string, unknown>;
    expect(o).toMatchObject({ level: 30, msg: 'listening', workers: 2, pid: p.proc.pid });
    expect(typeof o.time).toBe('number');
  }, 60_000); // the start alone is bounded by 40 s: a loaded host takes ~21 s to start `--workers 2`
});
