// deploy/monitoring: the Prometheus alert rules pass `promtool check rules` and their unit
// tests (`promtool test rules`); every Grafana panel query is valid PromQL (checked by promtool
// as a recording rule); and every metric the dashboard and the rules query exists in a real
// scrape of a running proxy (`serve --workers 2`, so the supervisor's families are there too).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { familyTypes } from '../../helpers/promtool.js';
import { DEPLOY, yamlFile } from '../../helpers/deploy-files.js';

const MON = join(DEPLOY, 'monitoring');
const RULES = join(MON, 'prometheus', 'alert-rules.yaml');
const RULE_TESTS = join(MON, 'prometheus', 'alert-rules.test.yaml');
const DASHBOARD = join(MON, 'grafana', 'portcullis-dashboard.json');

function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`promtool not runnable (install the Debian package prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Panel { type: string; title: string; targets?: Array<{ expr: string }>; panels?: Panel[] }
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: Panel[] };
const panelExprs = dashboard.panels.filter((p) => p.type !== 'row').flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const rules = (yamlFile(RULES) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);

/** Metric names a PromQL expression reads (our namespace only). */
const metricNames = (expr: string): string[] => [...new Set(expr.match(/\bportcullis_[a-z0-9_]+/g) ?? [])];

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool(['test', 'rules', RULE_TESTS]);
    expect(r.status, r.output).toBe(0);
  });

  it('cover what the issue asks an operator be woken for', () => {
    const names = rules.map((r) => r.alert);
    for (const a of ['PortcullisJwksFetchFailing', 'PortcullisIntrospectionFailing', 'PortcullisBusDisconnected', 'PortcullisBusServerAuthMissing', 'PortcullisRevocationsDegraded',
      'PortcullisRevocationReplayLag', 'PortcullisWorkersUnrestorable', 'PortcullisDenialRateSpike', 'PortcullisTokenCacheNearBound']) {
      expect(names).toContain(a);
    }
  });
});

describe('Grafana dashboard', () => {
  it('has a query on every panel, and every query is valid PromQL', () => {
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
    // Grafana's $__rate_interval becomes a fixed range for the check
    const doc = { groups: [{ name: 'dashboard', rules: panelExprs.map((e, i) => ({ record: `dashboard:panel_${i}`, expr: e.expr.replaceAll('$__rate_interval', '5m') })) }] };
    const file = join(tempDir('portcullis-dash-'), 'dashboard-rules.yaml');
    writeFileSync(file, stringify(doc));
    const r = promtool(['check', 'rules', file]);
    expect(r.status, r.output).toBe(0);
  });
});

describe('every metric queried exists in a real scrape', () => {
  let echo: EchoUpstream;
  let proxy: ProxyProcess;
  let families: Map<string, string>;

  beforeAll(async () => {
    echo = await startEchoUpstream();
    proxy = await startProxy(baseConfig(echo.url, { tracing: { enabled: true, endpoint: 'http://127.0.0.1:9/v1/traces' } }), { args: ['--workers', '2'], timeoutMs: 40_000 });
    const r = await fetch(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(r.status).toBe(200);
    families = familyTypes(await r.text());
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
  });

  /** The family a sample name belongs to: itself, or a histogram's without _bucket/_sum/_count. */
  const exists = (name: string): boolean => {
    if (families.has(name)) return true;
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    return m !== null && families.get(m[1]!) === 'histogram';
  };

  it('for the dashboard', () => {
    const missing = panelExprs.flatMap((e) => metricNames(e.expr).filter((n) => !exists(n)).map((n) => `${e.panel}: ${n}`));
    expect(missing).toEqual([]);
    expect(panelExprs.flatMap((e) => metricNames(e.expr)).length).toBeGreaterThan(30);
  });

  it('for the alert rules', () => {
    const missing = rules.flatMap((r) => metricNames(r.expr).filter((n) => !exists(n)).map((n) => `${r.alert}: ${n}`));
    expect(missing).toEqual([]);
  });
});
