// `portcullis policy push` of a policy file another process is still writing: a prefix of a block-style
// YAML file is often valid with less in it (a `scopes` list cut after its first item). The push refuses,
// publishing nothing, and pushes the whole file once the writer has closed it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeSync } from 'node:fs';
import { stringify } from 'yaml';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.js';
import { writeConfig } from '../../helpers/proxy-process.js';
import { localConfig, policyCli, policyDoc, writePolicy, QUICK_BEAT } from './policy-fixtures.js';

describe('policy push of a file being written', () => {
  let nats: NatsCluster;
  beforeAll(async () => { nats = await startNatsCluster(1); }, 60_000);
  afterAll(async () => { await nats?.stop(); });

  it('refuses while a process holds the policy file open for writing; nothing is published', async () => {
    const prefixName = `ptw${Math.random().toString(36).slice(2, 8)}`;
    const cliConfig = writeConfig(localConfig(nats.urls, prefixName, {}, {}, QUICK_BEAT));
    const full = stringify(policyDoc('https://as.example/realms/w', 'http://127.0.0.1:9', { scopes: ['orders:read', 'orders:admin'] }));
    const cut = full.indexOf('- orders:read\n') + '- orders:read\n'.length;
    expect(cut).toBeGreaterThan(14);
    expect(full.slice(0, cut)).not.toContain('orders:admin');
    const file = writePolicy({});
    const fd = openSync(file, 'w'); // a writer that truncated the file and has written part of it so far
    let open = true;
    try {
      writeSync(fd, full.slice(0, cut));
      const r = await policyCli(['push', '--config', cliConfig, '--policy', file, '--by', 'alice']);
      expect(r.stdout).not.toMatch(/pushed version/); // before: "pushed version 1" with `all: [orders:read]`
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${file} is open for writing by process ${process.pid}`);
      expect(r.stderr).toContain('nothing published');
      const h = await policyCli(['history', '--config', cliConfig, '--json']);
      expect(h.code, h.stderr).toBe(0);
      expect(JSON.parse(h.stdout)).toEqual([]);

      writeSync(fd, full.slice(cut));
      closeSync(fd);
      open = false;
      const again = await policyCli(['push', '--config', cliConfig, '--policy', file, '--by', 'alice']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/pushed version 1 /);
    } finally {
      if (open) closeSync(fd);
    }
  });
});
