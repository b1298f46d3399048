// Every Portcullis config an operator deploys from deploy/ (compose, Kubernetes base and
// overlay, systemd, the documented example) passes `portcullis check-config`, as the CLI runs.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT, runCli } from '../../helpers/proxy-process.js';
import { deployConfigs } from '../../helpers/deploy-files.js';

describe('deploy/: configs', () => {
  const configs = deployConfigs();

  it('there is one per artifact (compose, kubernetes base + overlay, systemd, the example)', () => {
    expect(configs).toEqual(expect.arrayContaining([
      'deploy/compose/portcullis.yaml',
      'deploy/kubernetes/base/portcullis.yaml',
      'deploy/kubernetes/overlays/example/portcullis.yaml',
      'deploy/systemd/portcullis.yaml',
      'deploy/portcullis.example.yaml',
    ]));
  });

  it.each(configs)('%s passes check-config', async (file) => {
    const r = await runCli(['check-config', join(ROOT, file)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: /);
  });
});
