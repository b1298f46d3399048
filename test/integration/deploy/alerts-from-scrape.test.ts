// The shipped alert rules (deploy/monitoring/prometheus/alert-rules.yaml) evaluated by
// `promtool test rules` on what a real proxy exports: a proxy with NATS credentials on a server
// that admits anyone (README "Bus threat model": "alert on it") fires an alert; the same proxy
// on a server that requires the credentials fires none of the shipped alerts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, startNatsServerWithConfig, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, ADMIN_TOKEN, BUS_AUTH, BUS_ENV, baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { DEPLOY, yamlFile } from '../../helpers/deploy-files.js';
import { waitFor } from '../../helpers/wait.js';

const RULES = join(DEPLOY, 'monitoring', 'prometheus', 'alert-rules.yaml');
const PASSWORD = `pw-${randomUUID()}`;
const ENV = { ...ADMIN_ENV, ...BUS_ENV, PT_NATS_PASSWORD: PASSWORD };
const INSTANCE = 'proxy-1:9901';
const alertNames = (yamlFile(RULES) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.alert));

/** A scrape turned into promtool input series: every sample held for 30 minutes, labelled with its scrape target. */
function inputSeries(scrape: string): Array<{ series: string; values: string }> {
  const out: Array<{ series: string; values: string }> = [];
  for (const line of scrape.split('\n')) {
    const m = /^(portcullis_[a-z0-9_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || !/^-?[0-9.e+]+$/.test(m[3]!)) continue; // NaN/Inf samples: no rule reads them
    const labels = [`instance="${INSTANCE}"`, ...(m[2] !== undefined && m[2] !== '' ? [m[2]] : [])].join(',');
    out.push({ series: `${m[1]}{${labels}}`, values: `${m[3]}x30` });
  }
  return out;
}

/** Runs the shipped rules on the scrape; `firing`: the alerts expected at minute 20, every other shipped alert expected silent. */
function promtoolOnScrape(scrape: string, firing: Record<string, { labels: Record<string, string>; annotations: Record<string, string> }>): { status: number | null; output: string } {
  const dir = tempDir('portcullis-alerts-');
  copyFileSync(RULES, join(dir, 'alert-rules.yaml'));
  const tests = [{
    interval: '1m',
    input_series: inputSeries(scrape),
    alert_rule_test: [...new Set([...alertNames, ...Object.keys(firing)])].map((alertname) => ({
      eval_time: '20m', alertname,
      exp_alerts: firing[alertname] === undefined ? [] : [{ exp_labels: { ...firing[alertname].labels, instance: INSTANCE }, exp_annotations: firing[alertname].annotations }],
    })),
  }];
  const file = join(dir, 'scrape.test.yaml');
  writeFileSync(file, stringify({ rule_files: ['alert-rules.yaml'], evaluation_interval: '1m', tests }));
  const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`promtool not runnable (install the Debian package prometheus): ${r.error.message}`);
  // promtool prints every expected and got alert on failure: only the first lines matter
  return { status: r.status, output: `${r.stdout}${r.stderr}`.slice(0, 4000) };
}

async function scrape(p: ProxyProcess): Promise<string> {
  const r = await fetch(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  return r.text();
}

describe('alert rules on a real scrape', () => {
  let open: NatsServer & { stop(): Promise<void> };
  let guarded: NatsServer & { stop(): Promise<void> };
  let echo: EchoUpstream;
  const proxies: ProxyProcess[] = [];

  async function connectedProxy(natsUrl: string): Promise<ProxyProcess> {
    const p = await startProxy(baseConfig(echo.url, {
      cluster: { nats: { servers: [natsUrl], user: 'portcullis', password_env: 'PT_NATS_PASSWORD' }, auth: BUS_AUTH },
      log: { level: 'info', access: false },
    }), { env: ENV, timeoutMs: 30_000 });
    proxies.push(p);
    await waitFor('connected to NATS', async () => p.output().includes('connected to NATS'), 20_000);
    // revocations replayed: until then the proxy is (rightly) degraded
    await waitFor('portcullis_revocations_degraded 0', async () => /^portcullis_revocations_degraded 0$/m.test(await scrape(p)), 20_000);
    return p;
  }

  beforeAll(async () => {
    echo = await startEchoUpstream();
    open = await startNatsServer();
    guarded = await startNatsServerWithConfig((at) => [
      `port: ${at.port}`, `http_port: ${at.monitorPort}`, `jetstream { store_dir: "${at.storeDir}" }`,
      'authorization { users: [ { user: portcullis, password: $PT_NATS_PASSWORD } ] }',
    ].join('\n'), { PT_NATS_PASSWORD: PASSWORD });
  }, 60_000);
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await Promise.all([open?.stop(), guarded?.stop()]);
    await echo?.close();
  });

  it('a NATS server that admits anyone (credentials configured) fires an alert', async () => {
    const p = await connectedProxy(open.url);
    await waitFor('portcullis_bus_server_auth_missing 1', async () => /^portcullis_bus_server_auth_missing 1$/m.test(await scrape(p)), 20_000);
    const r = promtoolOnScrape(await scrape(p), {
      PortcullisBusServerAuthMissing: {
        labels: { severity: 'critical' },
        annotations: {
          summary: `The NATS server ${INSTANCE} is connected to does not require authentication`,
          description: 'Anyone who can reach that server can read the bus (token hashes, introspection claims, revocations): check its authorization block and permissions.conf include.',
        },
      },
    });
    expect(r.status, r.output).toBe(0);
  }, 60_000);

  it('the same proxy on a server that requires the credentials fires no shipped alert', async () => {
    const p = await connectedProxy(guarded.url);
    const r = promtoolOnScrape(await scrape(p), {});
    expect(r.status, r.output).toBe(0);
  }, 60_000);
});
