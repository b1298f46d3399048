// `portcullis cluster-demo --exit` (npm run cluster) against a real nats-server: the
// revocation at instance 1 must be refused at instances 2 and 3.
import { describe, expect, it } from 'vitest';
import { natsServerBinary } from '../../helpers/nats.js';
import { runCli } from '../../helpers/proxy-process.js';

describe('cluster-demo', () => {
  it('shows a token allowed at three instances, then refused at all three after one revocation', async () => {
    natsServerBinary(); // fails with the install command when missing
    const r = await runCli(['cluster-demo', '--exit'], {}, 40_000);
    expect(r.stdout).toContain('Before: the token at instances 1, 2, 3 → 200, 200, 200');
    expect(r.stdout).toMatch(/instance 2 refused it \(401\)/);
    expect(r.stdout).toMatch(/instance 3 refused it \(401\)/);
    expect(r.stdout).toContain('After: the token at instances 1, 2, 3 → 401, 401, 401');
    expect(r.code).toBe(0);
  }, 45_000);
});
