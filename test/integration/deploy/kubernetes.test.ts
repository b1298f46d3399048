// deploy/kubernetes without kubectl or kustomize (neither is installable here): the base and
// the example overlay parsed with `yaml`, and every cross-reference an apply would only find
// out about in production checked — config mounted where --config points, probes on the
// config's admin port, a Secret key per *_env, shutdown delay + drain < grace period, selectors,
// the admin port fenced by a NetworkPolicy, a locked-down securityContext, NATS R3 storage,
// and NATS running the shared permissions file with the passwords from the same Secret.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parse } from 'yaml';
import { DEPLOY, envNames, NATS_PERMISSIONS, natsEnvRefs, natsUsers, parseDockerfile, yamlDocs, yamlFile } from '../../helpers/deploy-files.js';

const BASE = join(DEPLOY, 'kubernetes', 'base');
const OVERLAY = join(DEPLOY, 'kubernetes', 'overlays', 'example');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Kustomization { resources?: string[]; configMapGenerator?: Array<{ name: string; files: string[]; behavior?: string }>; images?: Array<{ name: string }>; patches?: Array<{ target: { kind: string; name: string } }>; namespace?: string }

function kustomization(dir: string): Kustomization { return yamlFile(join(dir, 'kustomization.yaml')) as Kustomization; }
/** Manifests of a kustomization's resources (directories recurse), ConfigMap generators not included. */
function manifests(dir: string): Obj[] {
  const out: Obj[] = [];
  for (const r of kustomization(dir).resources ?? []) {
    const p = join(dir, r);
    expect(existsSync(p), `${dir}: resource ${r} missing`).toBe(true);
    if (existsSync(join(p, 'kustomization.yaml'))) out.push(...manifests(p));
    else out.push(...yamlDocs(p));
  }
  return out;
}
const all = manifests(BASE);
const find = (kind: string, name: string): Obj => { const o = all.find((m) => m.kind === kind && m.metadata?.name === name); expect(o, `${kind}/${name}`).toBeDefined(); return o!; };
const deployment = find('Deployment', 'portcullis');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const labels = deployment.spec.template.metadata.labels as Record<string, string>;
const configPath: string = container.args[container.args.indexOf('--config') + 1];
const matches = (selector: Record<string, string>, l: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => l[k] === v);
const portOf = (name: string): number => container.ports.find((p: Obj) => p.name === name).containerPort;
/** The config files the ConfigMap generator of base (and the overlay's replacement) mount. */
const configFiles = [join(BASE, basename(configPath)), join(OVERLAY, basename(configPath))];

describe('deploy/kubernetes', () => {
  it('every manifest has apiVersion, kind and a name; the base lists every file in its folder', () => {
    for (const m of all) {
      expect(m.apiVersion, JSON.stringify(m).slice(0, 80)).toBeTruthy();
      expect(m.kind).toBeTruthy();
      expect(m.metadata?.name).toBeTruthy();
    }
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'Deployment/portcullis', 'HorizontalPodAutoscaler/portcullis', 'NetworkPolicy/nats', 'NetworkPolicy/portcullis',
      'PodDisruptionBudget/nats', 'PodDisruptionBudget/portcullis', 'Service/nats', 'Service/portcullis', 'Service/portcullis-admin', 'StatefulSet/nats',
    ]);
  });

  it('the config ConfigMap is mounted at the directory --config points into, with the file under that name', () => {
    const mount = container.volumeMounts.find((v: Obj) => v.mountPath === dirname(configPath));
    expect(mount, `nothing mounted at ${dirname(configPath)}`).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const vol = pod.volumes.find((v: Obj) => v.name === mount.name);
    const gen = kustomization(BASE).configMapGenerator!.find((g) => g.name === vol.configMap.name);
    expect(gen, `no configMapGenerator ${vol.configMap.name}`).toBeDefined();
    expect(gen!.files).toContain(basename(configPath));
    const over = kustomization(OVERLAY).configMapGenerator!.find((g) => g.name === gen!.name)!;
    expect(over.behavior).toBe('replace');
    expect(over.files).toContain(basename(configPath));
    for (const f of configFiles) expect(existsSync(f), f).toBe(true);
  });

  it.each(configFiles.map((f) => [f.slice(DEPLOY.length + 1), f]))('%s: ports and probes match the Deployment', (_n, f) => {
    const c = yamlFile(f) as Obj;
    expect(portOf('http')).toBe(c.server.listen.port);
    expect(portOf('admin')).toBe(c.admin.listen.port);
    expect(c.admin.listen.host).toBe('0.0.0.0'); // the kubelet probes the pod IP
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    // the stop is the proxy's own: no preStop pause (it would add to the delay, and needs a sleep binary
    // in the image); shutdown_delay_ms keeps serving after SIGTERM at least until a readiness-driven
    // load balancer has seen /readyz 503; the grace period covers delay + drain + the primary's 2 s
    expect(container.lifecycle?.preStop, 'a preStop hook: use server.timeouts.shutdown_delay_ms').toBeUndefined();
    const delay = c.server.timeouts.shutdown_delay_ms ?? 0;
    expect(delay).toBeGreaterThanOrEqual(container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold * 1000);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(delay + c.server.timeouts.drain_ms + 2_000);
    // workers fit the CPU limit
    expect(c.server.workers).toBeLessThanOrEqual(Number(container.resources.limits.cpu));
  });

  it.each(configFiles.map((f) => [f.slice(DEPLOY.length + 1), f]))('%s: every *_env comes from a Secret key of that name', (_n, f) => {
    const env = new Map<string, Obj>(container.env.map((e: Obj) => [e.name, e]));
    const names = envNames(yamlFile(f));
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) {
      expect(env.get(n)?.valueFrom?.secretKeyRef, `${n} not from a Secret`).toBeDefined();
      expect(env.get(n)!.valueFrom.secretKeyRef.key).toBe(n);
      expect(env.get(n)!.valueFrom.secretKeyRef.name).toBe('portcullis-secrets');
    }
    // the overlay's documented `kubectl create secret` names every key
    const doc = readFileSync(join(OVERLAY, 'kustomization.yaml'), 'utf8');
    for (const n of names) expect(doc).toContain(`--from-literal=${n}=`);
  });

  it('the container is locked down and runs as the image\'s user', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const image = parseDockerfile(readFileSync(join(DEPLOY, 'docker', 'Dockerfile'), 'utf8')).at(-1)!;
    const user = image.instructions.find((i) => i.op === 'USER')!.args.split(':').map(Number);
    expect([pod.securityContext.runAsUser, pod.securityContext.runAsGroup]).toEqual(user);
    expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    const sc = container.securityContext;
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.privileged).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.args).toEqual(['serve', '--config', configPath]);
  });

  it('replicas spread over nodes; PDB, HPA and Services select the Deployment\'s pods', () => {
    expect(matches(deployment.spec.selector.matchLabels, labels)).toBe(true);
    const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    expect(anti.topologyKey).toBe('kubernetes.io/hostname');
    expect(matches(anti.labelSelector.matchLabels, labels)).toBe(true);
    const pdb = find('PodDisruptionBudget', 'portcullis');
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    const hpa = find('HorizontalPodAutoscaler', 'portcullis');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'portcullis' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    for (const name of ['portcullis', 'portcullis-admin']) expect(matches(find('Service', name).spec.selector, labels), name).toBe(true);
  });

  it('admin on its own ClusterIP Service, not on the data one; the NetworkPolicy fences the admin port', () => {
    const data = find('Service', 'portcullis');
    const admin = find('Service', 'portcullis-admin');
    expect(data.spec.ports.map((p: Obj) => p.targetPort)).toEqual(['http']);
    expect(admin.spec.ports.map((p: Obj) => p.targetPort)).toEqual(['admin']);
    expect(admin.spec.type).toBe('ClusterIP');
    const np = find('NetworkPolicy', 'portcullis');
    expect(matches(np.spec.podSelector.matchLabels, labels)).toBe(true);
    expect(np.spec.policyTypes).toContain('Ingress');
    const rules = np.spec.ingress as Obj[];
    const adminRules = rules.filter((r) => (r.ports ?? []).some((p: Obj) => p.port === 'admin' || p.port === portOf('admin')));
    expect(adminRules.length).toBeGreaterThan(0);
    for (const r of adminRules) {
      expect(r.from?.length, 'admin port open to every source').toBeGreaterThan(0);
      for (const f of r.from) expect(f.podSelector?.matchLabels ?? f.ipBlock, 'admin rule without a pod selector').toBeTruthy();
    }
    // no rule without ports (that would open the admin port too)
    for (const r of rules) expect(r.ports?.length, 'an ingress rule without ports opens every port').toBeGreaterThan(0);
  });

  it('NATS: 3-node StatefulSet with JetStream storage where nats.conf keeps it; the proxies\' URLs name its pods', () => {
    const sts = find('StatefulSet', 'nats');
    expect(sts.spec.replicas).toBe(3);
    const svc = find('Service', 'nats');
    expect(sts.spec.serviceName).toBe('nats');
    expect(svc.spec.clusterIP).toBe('None');
    const c = sts.spec.template.spec.containers[0];
    const confPath: string = c.args[c.args.indexOf('-c') + 1];
    const confMount = c.volumeMounts.find((v: Obj) => v.mountPath === dirname(confPath));
    const confVol = sts.spec.template.spec.volumes.find((v: Obj) => v.name === confMount.name);
    const gen = kustomization(BASE).configMapGenerator!.find((g) => g.name === confVol.configMap.name)!;
    expect(gen.files).toContain(basename(confPath));
    const conf = readFileSync(join(BASE, basename(confPath)), 'utf8');
    const store = /store_dir: (\S+)/.exec(conf)![1]!;
    const dataMount = c.volumeMounts.find((v: Obj) => v.mountPath === store);
    expect(dataMount, `no volume at the JetStream store ${store}`).toBeDefined();
    expect(sts.spec.volumeClaimTemplates.map((t: Obj) => t.metadata.name)).toContain(dataMount.name);
    const pidFile = /pid_file: (\S+)/.exec(conf)![1]!;
    expect(c.lifecycle.preStop.exec.command.join(' ')).toContain(pidFile);
    expect(c.volumeMounts.some((v: Obj) => pidFile.startsWith(v.mountPath + '/'))).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    const pods = [0, 1, 2].map((i) => `nats-${i}.nats`);
    expect([...conf.matchAll(/nats-route:\/\/([\w.-]+):(\d+)/g)].map((m) => m[1]).sort()).toEqual(pods);
    const clientPort = c.ports.find((p: Obj) => p.name === 'client').containerPort;
    for (const f of configFiles) {
      const cfg = yamlFile(f) as Obj;
      expect(cfg.cluster.nats.servers.map((u: string) => new URL(u).host).sort()).toEqual(pods.map((p) => `${p}:${clientPort}`));
      expect(cfg.cluster.revocation.replicas).toBeLessThanOrEqual(sts.spec.replicas);
    }
    expect(matches(find('PodDisruptionBudget', 'nats').spec.selector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
  });

  it('NATS: the shared permissions file in the ConfigMap, every variable it needs from the pod; nats-server accepts it as mounted', () => {
    const sts = find('StatefulSet', 'nats');
    const c = sts.spec.template.spec.containers[0];
    const confPath: string = c.args[c.args.indexOf('-c') + 1];
    const confVol = sts.spec.template.spec.volumes.find((v: Obj) => v.name === c.volumeMounts.find((m: Obj) => m.mountPath === dirname(confPath)).name);
    const gen = kustomization(BASE).configMapGenerator!.find((g) => g.name === confVol.configMap.name)!;
    const conf = readFileSync(join(BASE, basename(confPath)), 'utf8');
    expect(/^include\s+(\S+)$/m.exec(conf)?.[1], 'nats.conf includes no permissions file').toBe('./permissions.conf');
    expect(gen.files).toContain('permissions.conf');
    // kustomize loads nothing from outside the kustomization: a copy, kept identical
    expect(readFileSync(join(BASE, 'permissions.conf'), 'utf8'), 'base/permissions.conf differs from deploy/nats/permissions.conf').toBe(readFileSync(NATS_PERMISSIONS, 'utf8'));
    const permissions = readFileSync(join(BASE, 'permissions.conf'), 'utf8');
    const refs = natsEnvRefs(conf, permissions);
    expect(refs).toEqual(['POD_NAME', 'PORTCULLIS_NATS_PASSWORD', 'PORTCULLIS_NATS_REVOKE_PASSWORD']);
    const env = new Map<string, Obj>(c.env.map((e: Obj) => [e.name, e]));
    const overlayDoc = readFileSync(join(OVERLAY, 'kustomization.yaml'), 'utf8');
    for (const r of refs) {
      expect(env.get(r), `${r} not set in the NATS pods`).toBeDefined();
      if (r === 'POD_NAME') { expect(env.get(r)!.valueFrom.fieldRef.fieldPath).toBe('metadata.name'); continue; }
      expect(env.get(r)!.valueFrom?.secretKeyRef, `${r} not from a Secret`).toEqual({ name: 'portcullis-secrets', key: r });
      expect(overlayDoc).toContain(`--from-literal=${r}="p$(`); // documented, starting with a letter
    }
    // the proxies log in with the password the servers check for their user
    for (const f of configFiles) {
      const nats = (yamlFile(f) as Obj).cluster.nats;
      expect(nats.password_env).toBe(natsUsers(permissions).find((u) => u.user === nats.user)!.passwordEnv);
    }
    const etc = mkdtempSync(join(tmpdir(), 'portcullis-k8s-nats-'));
    for (const file of gen.files) copyFileSync(join(BASE, file), join(etc, file));
    const r = spawnSync('/usr/sbin/nats-server', ['-c', join(etc, basename(confPath)), '-t'], {
      encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: 'nats-0', PORTCULLIS_NATS_PASSWORD: 'pproxy', PORTCULLIS_NATS_REVOKE_PASSWORD: 'prevoke' },
    });
    expect(r.stderr).toMatch(/is valid/);
  });

  // nats-server takes an empty variable as an empty password and admits anyone as that user with
  // one; nothing in Kubernetes checks a Secret's values, so the container's command does.
  it('NATS: the container refuses to start while a password from the Secret is empty or missing, and runs nats-server with its args otherwise', () => {
    const sts = find('StatefulSet', 'nats');
    const c = sts.spec.template.spec.containers[0];
    expect(c.command?.slice(0, 2), 'the NATS container has no start guard').toEqual(['/bin/sh', '-c']);
    const etc = mkdtempSync(join(tmpdir(), 'portcullis-k8s-nats-'));
    const gen = kustomization(BASE).configMapGenerator!.find((g) => g.name === 'nats-config')!;
    for (const file of gen.files) copyFileSync(join(BASE, file), join(etc, file));
    // the pod's command line, with the ConfigMap's folder here and -t (check the config, then exit)
    const args = (c.args as string[]).map((a) => a.replace(/^\/etc\/nats\//, `${etc}/`));
    const start = (env: Record<string, string>): ReturnType<typeof spawnSync> & { stderr: string } => spawnSync(c.command[0], [...c.command.slice(1), ...args, '-t'], {
      encoding: 'utf8', env: { PATH: `${process.env.PATH}:/usr/sbin`, ...env },
    }) as ReturnType<typeof spawnSync> & { stderr: string };
    const filled = { POD_NAME: 'nats-0', PORTCULLIS_NATS_PASSWORD: 'pproxy', PORTCULLIS_NATS_REVOKE_PASSWORD: 'prevoke' };
    const ok = start(filled);
    expect(ok.stderr).toMatch(/is valid/);
    expect(ok.status).toBe(0);
    const passwords = natsEnvRefs(readFileSync(join(BASE, 'nats.conf'), 'utf8'), readFileSync(join(BASE, 'permissions.conf'), 'utf8')).filter((r) => r !== 'POD_NAME');
    expect(passwords.length).toBeGreaterThan(0);
    for (const name of passwords) {
      for (const env of [{ ...filled, [name]: '' }, Object.fromEntries(Object.entries(filled).filter(([k]) => k !== name))]) {
        const r = start(env);
        expect(r.status, `${name} empty or missing`).not.toBe(0);
        expect(r.stderr).toContain(`${name} is empty or not set`);
        expect(r.stderr).not.toMatch(/is valid/);
      }
    }
  });

  it('the overlay: resources exist, images and patches name what the base has', () => {
    const k = kustomization(OVERLAY);
    manifests(OVERLAY); // throws on a missing resource
    expect(k.namespace).toBe('portcullis');
    expect(k.images!.map((i) => i.name)).toEqual([container.image.split(':')[0]]);
    for (const p of k.patches ?? []) find(p.target.kind, p.target.name);
    expect(parse(readFileSync(join(OVERLAY, 'namespace.yaml'), 'utf8')).metadata.name).toBe(k.namespace);
  });
});
