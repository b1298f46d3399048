// `portcullis policy` numbers out of range are bad usage (exit 2) before NATS is asked: `status
// --wait` past 2^31 ms made Node's timer fire at once (TimeoutOverflowWarning), so status printed
// "no member reported" (exit 1) without waiting; `rollback --to` past 2^53 compared another number.
// And `policy history` before the first push says so (it printed nothing, exit 0).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { writeConfig } from '../../helpers/proxy-process.js';
import { localConfig, policyCli } from './policy-fixtures.js';

let nats: NatsServer & { stop(): Promise<void> };
let cfg: string;

beforeAll(async () => {
  nats = await startNatsServer();
  cfg = writeConfig(localConfig([nats.url], `ptn${Math.random().toString(36).slice(2, 8)}`));
}, 60_000);
afterAll(async () => { await nats?.stop(); });

describe('policy numbers', () => {
  it('status --wait 99999999999 (past a timer\'s 2^31 ms) and --wait 0: exit 2 naming --wait, no "no member reported"', async () => {
    const [huge, zero] = await Promise.all([
      policyCli(['status', '--config', cfg, '--wait', '99999999999']),
      policyCli(['status', '--config', cfg, '--wait', '0']),
    ]);
    for (const r of [huge, zero]) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(/status: --wait: expected milliseconds from 1 to 600000/);
      expect(r.stdout).not.toMatch(/no member/);
      expect(r.stderr).not.toContain('TimeoutOverflowWarning');
    }
  });

  it('rollback --to 99999999999999999999 (past 2^53): exit 2 naming --to', async () => {
    const r = await policyCli(['rollback', '--config', cfg, '--to', '99999999999999999999']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--to: expected a number/);
  });
});

describe('policy history before the first push', () => {
  it('says no version is in the bucket yet and how to publish one (exit 0); --json is []', async () => {
    const [text, json] = await Promise.all([policyCli(['history', '--config', cfg]), policyCli(['history', '--config', cfg, '--json'])]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.trim()).toMatch(/^no version in \S+_POLICY yet: "portcullis policy push --config FILE" publishes the first$/);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });
});
