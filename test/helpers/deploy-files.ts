// Readers for the operator artifacts under deploy/: YAML documents, the `*_env` names a
// Portcullis config uses, a small Dockerfile parser and .dockerignore matcher. Tests use
// them to check cross-references without a container engine or a Kubernetes cluster.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from './proxy-process.js';

export const DEPLOY = join(ROOT, 'deploy');

/** Every document of a YAML file (k8s manifests hold several); throws on a syntax error. */
export function yamlDocs(file: string): Array<Record<string, unknown>> {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Record<string, unknown>;
  }).filter((d) => d !== null);
}

/** One YAML document. */
export function yamlFile(file: string): Record<string, unknown> {
  return parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** Values of every key ending in `_env` anywhere in a config: the environment variables it needs. */
export function envNames(config: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k.endsWith('_env') && typeof x === 'string') out.add(x);
      else walk(x);
    }
  };
  walk(config);
  return [...out].sort();
}

/** deploy/nats/permissions.conf, which every NATS config under deploy/ includes. */
export const NATS_PERMISSIONS = join(DEPLOY, 'nats', 'permissions.conf');

/** A NATS user of a permissions file: the variable its password comes from, the subjects it may subscribe to. */
export interface NatsUser { readonly user: string; readonly passwordEnv: string; readonly subscribe: readonly string[] }

/** The users of a nats-server permissions file (`{ user: U, password: $VAR, permissions: $PERMS }` lines). */
export function natsUsers(text: string): NatsUser[] {
  return [...text.matchAll(/\{\s*user:\s*([\w-]+),\s*password:\s*\$(\w+),\s*permissions:\s*\$(\w+)\s*\}/g)].map((m) => {
    const block = new RegExp(`^${m[3]!} = \\{([\\s\\S]*?)^\\}`, 'm').exec(text);
    if (block === null) throw new Error(`permissions ${m[3]} of user ${m[1]} not defined`);
    const sub = /subscribe:\s*\{\s*allow:\s*\[([^\]]*)\]/.exec(block[1]!);
    return { user: m[1]!, passwordEnv: m[2]!, subscribe: [...(sub?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((x) => x[1]!) };
  });
}

/**
 * Environment variables nats-server configs refer to: every `$NAME` the texts do not define
 * themselves (`NAME = …` or `NAME: …` at the start of a line); subjects in quotes (`"$JS.API…"`) are not references.
 */
export function natsEnvRefs(...texts: string[]): string[] {
  const all = texts.map((t) => t.split('\n').map((l) => l.replace(/#.*$/, '').replace(/"[^"]*"/g, '""')).join('\n')).join('\n');
  const defined = new Set([...all.matchAll(/^\s*(\w+)\s*[=:]/gm)].map((m) => m[1]!));
  return [...new Set([...all.matchAll(/\$(\w+)/g)].map((m) => m[1]!))].filter((n) => !defined.has(n)).sort();
}

/** Files below `dir` (relative to it), recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Every Portcullis config under deploy/ (files named portcullis*.yaml), relative to the repo. */
export function deployConfigs(): string[] {
  return filesUnder(DEPLOY).filter((f) => /(^|\/)portcullis[^/]*\.yaml$/.test(f)).map((f) => join('deploy', f));
}

export interface DockerInstruction { op: string; args: string; line: number }
export interface DockerStage { name: string; from: string; instructions: DockerInstruction[] }

/** Dockerfile → stages of instructions (line continuations joined, comments dropped). */
export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  const lines = text.split('\n');
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (buf === '' && /^\s*(#|$)/.test(raw)) continue;
    if (buf === '') start = i + 1;
    if (/^\s*#/.test(raw)) continue; // comment inside a continued instruction
    if (raw.endsWith('\\')) { buf += raw.slice(0, -1) + ' '; continue; }
    buf += raw;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(buf);
    buf = '';
    if (m === null) throw new Error(`Dockerfile line ${start}: cannot parse`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ name: f?.[2] ?? String(stages.length), from: f?.[1] ?? args, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push({ op, args, line: start });
    }
  }
  return stages;
}

/** `--flag=value` options at the start of an instruction's arguments, and the rest. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([\w-]+)(?:=(\S+))?\s+/.exec(rest);
    if (m === null) break;
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** .dockerignore rules → "is this context path sent to the builder?" (last matching rule wins). */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i]!;
      if (c === '*' && pat[i + 1] === '*') { re += '.*'; i++; if (pat[i + 1] === '/') i++; }
      else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    // a pattern naming a directory covers everything below it
    return { negate, re: new RegExp(`^${re}(/.*)?$`) };
  });
  return (path: string) => {
    let included = true;
    for (const r of rules) if (r.re.test(path)) included = r.negate;
    return included;
  };
}
