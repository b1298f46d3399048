// A policy too large for the NATS server's max_payload (set below nats-server's 1 MiB default by the operator):
// `policy push` exits 1 saying how large it is and what the server takes, and publishes nothing. Before, the push
// failed with nats.js's bare `push failed: MAX_PAYLOAD_EXCEEDED`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfig } from '../../helpers/proxy-process.js';
import { startNatsServerWithConfig, type NatsServer } from '../../helpers/nats.js';
import { localConfig, policyCli, writePolicy } from './policy-fixtures.js';

/** `n` routes whose paths are random (the entry is gzip: repeated text would compress below any limit). */
function widePolicy(n: number): Record<string, unknown> {
  const rnd = (): string => Math.random().toString(36).slice(2, 12);
  return {
    upstreams: { app: { targets: ['http://127.0.0.1:9'] } },
    routes: Array.from({ length: n }, (_, i) => ({ name: `r${i}`, match: { path: `/${rnd()}/${rnd()}/*` }, upstream: 'app', auth: 'none' })),
  };
}

describe('cluster policy: a version larger than the NATS server\'s max_payload', () => {
  let nats: NatsServer & { stop(): Promise<void> };

  beforeAll(async () => {
    nats = await startNatsServerWithConfig((at) => [`port: ${at.port}`, 'max_payload: 65536', `jetstream { store_dir: "${at.storeDir}" }`].join('\n'));
  }, 30_000);
  afterAll(async () => { await nats?.stop(); });

  it('push exits 1 naming its compressed size and the server\'s limit; nothing is published', async () => {
    const cliConfig = writeConfig(localConfig([nats.url], `pmp${Math.random().toString(36).slice(2, 8)}`));
    const r = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(widePolicy(6_000))], {}, 90_000);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/push failed: the policy is too large for the bus: \d+ bytes compressed, at most 65280 \(the NATS server's max_payload is 65536 bytes, less the message headers\); nothing published/);
    const h = await policyCli(['history', '--config', cliConfig, '--json']);
    expect(JSON.parse(h.stdout)).toEqual([]);
    // a policy that fits is published as version 1
    const ok = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(widePolicy(10))]);
    expect(ok.stdout, ok.stderr).toMatch(/^pushed version 1 /);
  }, 120_000);
});

describe('cluster policy: a server with a small max_payload (2 KiB)', () => {
  let nats: NatsServer & { stop(): Promise<void> };

  beforeAll(async () => {
    nats = await startNatsServerWithConfig((at) => [`port: ${at.port}`, 'max_payload: 2048', `jetstream { store_dir: "${at.storeDir}" }`].join('\n'));
  }, 30_000);
  afterAll(async () => { await nats?.stop(); });

  it('takes a policy that fits with its headers; refuses a larger one naming a limit the server really has', async () => {
    // before, 4 KiB were kept for headers of about 100 bytes: every push here was refused "at most -2048"
    const cliConfig = writeConfig(localConfig([nats.url], `pms${Math.random().toString(36).slice(2, 8)}`));
    const ok = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(widePolicy(10))]);
    expect(ok.stdout, ok.stderr).toMatch(/^pushed version 1 /);
    const big = await policyCli(['push', '--config', cliConfig, '--policy', writePolicy(widePolicy(200))]);
    expect(big.code, big.stdout).toBe(1);
    expect(big.stderr).toMatch(/the policy is too large for the bus: \d+ bytes compressed, at most 1792 \(the NATS server's max_payload is 2048 bytes, less the message headers\); nothing published/);
  }, 60_000);
});
