// The layering the code map promises, checked on every import of every .ts file under node/
// and cluster/ (type-only imports count: they are dependencies too):
//   * node/ (one proxy instance) never imports cluster/;
//   * cluster/transport (bytes in, bytes out) imports only itself, node/contracts and node/errors;
//   * cluster/ reaches a node/ folder that has an index.ts through that index (its public surface);
//   * no import cycle between modules. A module is a folder, or a file directly in node/ or
//     cluster/ (node/errors.ts, node/instance.ts, cluster/index.ts…): those are modules of their own.
// Cycles that exist today are listed in KNOWN_CYCLES; the list may only shrink.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Import cycles between modules that exist today, each as its sorted module list (a strongly
 * connected component of the module graph). The node/ side is being untangled (issue 10). A
 * cycle outside every listed one fails; a listed one that shrank or split must be replaced here
 * by what remains (the failure prints it), and one that is gone deleted: the list only shrinks.
 */
const KNOWN_CYCLES: readonly (readonly string[])[] = [
  ['node/config', 'node/dpop', 'node/introspection', 'node/jwt', 'node/pipeline', 'node/routing', 'node/s2s', 'node/upstream'],
  ['node/http', 'node/ws'],
];

interface Import {
  /** Importing file, repository-relative with `/`. */
  readonly from: string;
  readonly line: number;
  /** The specifier as written. */
  readonly spec: string;
  /** Repository-relative target file for a relative specifier; null for a package (`nats`, `node:fs`). */
  readonly to: string | null;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${e}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

// import … from '…', export … from '…', import '…', import('…'); comments are skipped line by line
const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/g;

function importsOf(file: string): Import[] {
  const out: Import[] = [];
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  let inBlockComment = false;
  lines.forEach((text, i) => {
    let code = text;
    if (inBlockComment) {
      const end = code.indexOf('*/');
      if (end < 0) return;
      code = code.slice(end + 2);
      inBlockComment = false;
    }
    const start = code.indexOf('/*');
    if (start >= 0 && code.indexOf('*/', start) < 0) { inBlockComment = true; code = code.slice(0, start); }
    if (/^\s*(\/\/|\*)/.test(code)) return;
    for (const m of code.matchAll(SPEC)) {
      const spec = m[1]!;
      let to: string | null = null;
      if (spec.startsWith('.')) {
        const abs = resolve(ROOT, dirname(file), spec.replace(/\.js$/, '.ts'));
        to = relative(ROOT, existsSync(abs) ? abs : join(abs, 'index.ts')).split(sep).join('/');
      }
      out.push({ from: file, line: i + 1, spec, to });
    }
  });
  return out;
}

/** A file's module: its folder, or the file itself when it sits directly in node/ or cluster/. */
function moduleOf(file: string): string {
  const dir = dirname(file);
  return dir === 'node' || dir === 'cluster' ? file.replace(/\.ts$/, '') : dir;
}

const within = (file: string, folder: string): boolean => file === folder || file.startsWith(`${folder}/`);
const where = (i: Import): string => `${i.from}:${i.line} imports '${i.spec}'`;

/** Tarjan's strongly connected components; the ones with more than one module are the cycles. */
function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** One import per module edge, to name in a failure. */
function edgeWitness(imports: readonly Import[], scc: readonly string[]): string[] {
  const members = new Set(scc);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const i of imports) {
    if (i.to === null) continue;
    const a = moduleOf(i.from), b = moduleOf(i.to);
    if (a === b || !members.has(a) || !members.has(b) || seen.has(`${a}>${b}`)) continue;
    seen.add(`${a}>${b}`);
    out.push(`    ${a} → ${b}: ${where(i)}`);
  }
  return out;
}

const files = [...tsFiles('node'), ...tsFiles('cluster')];
const imports = files.flatMap(importsOf);

describe('architecture: imports between node/ and cluster/', () => {
  it('reads every source file and resolves every relative import to a file', () => {
    expect(files.length).toBeGreaterThan(100);
    const unresolved = imports.filter((i) => i.to !== null && !existsSync(join(ROOT, i.to)));
    expect(unresolved.map(where)).toEqual([]);
  });

  it('node/ never imports cluster/', () => {
    const bad = imports.filter((i) => within(i.from, 'node') && i.to !== null && within(i.to, 'cluster'));
    expect(bad.map(where), 'node/ is one instance: put what cluster/ must share in node/contracts and implement it in cluster/').toEqual([]);
  });

  it('cluster/transport imports only itself, node/contracts and node/errors', () => {
    const allowed = (to: string): boolean => within(to, 'cluster/transport') || within(to, 'node/contracts') || to === 'node/errors.ts';
    const bad = imports.filter((i) => within(i.from, 'cluster/transport') && i.to !== null && !allowed(i.to));
    expect(bad.map(where), 'transport moves bytes: subjects, messages and logging belong above it').toEqual([]);
  });

  it('cluster/ reaches a node/ folder through its index.ts', () => {
    const bad = imports.filter((i) => {
      if (!within(i.from, 'cluster') || i.to === null) return false;
      const m = /^node\/([^/]+)\/(.+)$/.exec(i.to);
      return m !== null && m[2] !== 'index.ts' && existsSync(join(ROOT, 'node', m[1]!, 'index.ts'));
    });
    expect(bad.map(where), 'import from the folder\'s index.ts (export what is missing there)').toEqual([]);
  });

  it('no new import cycle between modules, and every listed one still exists', () => {
    const edges = new Map<string, Set<string>>();
    for (const f of files) edges.set(moduleOf(f), edges.get(moduleOf(f)) ?? new Set());
    for (const i of imports) {
      if (i.to === null) continue;
      const a = moduleOf(i.from), b = moduleOf(i.to);
      if (a !== b) edges.get(a)!.add(b);
    }
    const found = cycles(edges);
    const key = (c: readonly string[]): string => [...c].sort().join(' ');
    const inside = (c: readonly string[], k: readonly string[]): boolean => c.every((m) => k.includes(m));
    // a cycle is new unless every module of it sits in one listed cycle (that one may have shrunk)
    const added = found.filter((c) => !KNOWN_CYCLES.some((k) => inside(c, k))).map((c) => `  ${c.join(' ⇄ ')}\n${edgeWitness(imports, c).join('\n')}`);
    expect(added, 'new import cycle(s) between modules: break them (a shared type goes to the lower module, e.g. node/contracts)').toEqual([]);
    const now = new Set(found.map(key));
    const stale = KNOWN_CYCLES.filter((k) => !now.has(key(k))).map((k) => {
      const rest = found.filter((c) => inside(c, k));
      return `  ${k.join(' ⇄ ')}\n    ${rest.length === 0 ? 'gone: delete it' : `now: ${rest.map((c) => JSON.stringify(c)).join(', ')}`}`;
    });
    expect(stale, 'KNOWN_CYCLES in test/unit/architecture.test.ts lists cycles that shrank or are gone: write what remains').toEqual([]);
  });
});
