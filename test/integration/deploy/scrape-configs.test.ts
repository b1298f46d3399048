// deploy/monitoring/prometheus/scrape-configs.yaml: both jobs present the read-only metrics token
// from a file (never the admin token, never inline); the Kubernetes job keeps exactly the pods and
// port deploy/kubernetes runs; and a real Prometheus running the static job scrapes a real
// `serve --workers 2` configured like the Kubernetes base (admin.metrics_token_env) — target up.
// Debian's Prometheus is built without Kubernetes discovery, so that job is checked by structure.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { DEPLOY, yamlDocs, yamlFile } from '../../helpers/deploy-files.js';
import { startProxy, baseConfig, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/nats.js';
import { tempDir } from '../../helpers/temp-dirs.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const FILE = join(DEPLOY, 'monitoring', 'prometheus', 'scrape-configs.yaml');
const jobs = (yamlFile(FILE).scrape_configs as Obj[]);
const job = (name: string): Obj => { const j = jobs.find((x) => x.job_name === name); expect(j, name).toBeDefined(); return j!; };
const k8sConfig = yamlFile(join(DEPLOY, 'kubernetes', 'base', 'portcullis.yaml')) as Obj;
const METRICS_ENV_NAME: string = k8sConfig.admin.metrics_token_env;

let echo: EchoUpstream | undefined;
let proxy: ProxyProcess | undefined;
let prom: ChildProcess | undefined;
afterAll(async () => {
  if (prom !== undefined && prom.exitCode === null) { prom.kill('SIGTERM'); await new Promise((r) => prom!.once('exit', r)); }
  await proxy?.stop();
  await echo?.close();
});

describe('deploy/monitoring/prometheus/scrape-configs.yaml', () => {
  it('every job authenticates with the metrics token file, not the admin token', () => {
    expect(jobs.map((j) => j.job_name).sort()).toEqual(['portcullis', 'portcullis-kubernetes']);
    expect(METRICS_ENV_NAME).toBe('PORTCULLIS_METRICS_TOKEN');
    for (const j of jobs) {
      expect(j.metrics_path).toBe('/metrics');
      expect(j.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/prometheus/portcullis-metrics-token' });
      expect(j.bearer_token, j.job_name).toBeUndefined();
    }
  });

  it('the Kubernetes job keeps the proxy pods of deploy/kubernetes, on their admin port, in the overlay\'s namespace', () => {
    const k = job('portcullis-kubernetes');
    const deployment = yamlDocs(join(DEPLOY, 'kubernetes', 'base', 'deployment.yaml')).find((d) => d.kind === 'Deployment') as Obj;
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    const ports = (deployment.spec.template.spec.containers[0].ports as Obj[]).map((p) => p.name);
    const overlay = yamlFile(join(DEPLOY, 'kubernetes', 'overlays', 'example', 'kustomization.yaml')) as Obj;
    expect(k.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [overlay.namespace] } }]);
    const keep = (k.relabel_configs as Obj[]).filter((r) => r.action === 'keep');
    const byLabels = keep.find((r) => String(r.source_labels).includes('pod_label'))!;
    // Prometheus names a pod label `__meta_kubernetes_pod_label_<key, every other character as _>`
    const bySanitized = new Map(Object.entries(labels).map(([key, v]) => [`__meta_kubernetes_pod_label_${key.replace(/[^a-zA-Z0-9_]/g, '_')}`, v]));
    const values = (byLabels.source_labels as string[]).map((s) => bySanitized.get(s));
    expect(values.join(';')).toBe(byLabels.regex);
    const byPort = keep.find((r) => String(r.source_labels).includes('container_port_name'))!;
    expect(ports).toContain(byPort.regex);
  });

  it('a real Prometheus with the static job scrapes `serve --workers 2` using only the metrics token', async () => {
    echo = await startEchoUpstream();
    const metricsToken = 'scrape-token-'.padEnd(40, 'x');
    const cfg = baseConfig(echo.url, { log: { level: 'info', access: false } });
    (cfg.admin as Obj).metrics_token_env = METRICS_ENV_NAME;
    proxy = await startProxy(cfg, { args: ['--workers', '2'], env: { [METRICS_ENV_NAME]: metricsToken }, timeoutMs: 40_000 });

    const dir = tempDir('portcullis-prom-');
    const tokenFile = join(dir, 'portcullis-metrics-token');
    writeFileSync(tokenFile, metricsToken, { mode: 0o600 });
    // the shipped static job, pointed at this proxy and this token file; scraped every second so the test need not wait 15 s
    const shipped = job('portcullis');
    const config = { scrape_configs: [{ ...shipped, scrape_interval: '1s', authorization: { ...shipped.authorization, credentials_file: tokenFile }, static_configs: [{ targets: [`127.0.0.1:${proxy.adminPort}`] }] }] };
    const promConfig = join(dir, 'prometheus.yml');
    writeFileSync(promConfig, stringify(config));
    const check = spawnSync('promtool', ['check', 'config', promConfig], { encoding: 'utf8', timeout: 30_000 });
    if (check.error !== undefined) throw new Error(`promtool not runnable (install the Debian package prometheus): ${check.error.message}`);
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);

    const webPort = await freePort();
    prom = spawn('prometheus', [`--config.file=${promConfig}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`], { stdio: 'ignore' });
    let spawnError: Error | null = null;
    prom.on('error', (err) => { spawnError = err; });
    let last: Obj | null = null;
    for (let i = 0; i < 150 && spawnError === null; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        const r = await fetch(`http://127.0.0.1:${webPort}/api/v1/targets`);
        last = ((await r.json()) as Obj).data.activeTargets[0] ?? null;
        if (last?.health === 'up' || (last?.health === 'down' && last.lastError !== '')) break;
      } catch { /* not listening yet */ }
    }
    expect(spawnError, 'prometheus not runnable (install the Debian package prometheus)').toBeNull();
    expect(last, 'Prometheus reported no target').not.toBeNull();
    expect({ health: last!.health, lastError: last!.lastError }).toEqual({ health: 'up', lastError: '' });
  });
});
