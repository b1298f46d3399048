// The route table's index: pattern positions bucketed by host (exact, `*.suffix`, any) and, in each
// bucket, a tree of pattern segments, so a lookup visits what the path's segments lead to — its cost
// grows with the path's depth and the routes that may match it, not with the number of routes.

export const LIT = 3, PARAM = 2, WILD = 1, END = 4;

/** What the index reads of a compiled route (route-table's entry). */
export interface IndexedPattern {
  readonly segs: readonly string[];
  readonly lower: readonly string[];
  readonly kinds: readonly number[];
  readonly hostExact: string | null;
  readonly hostSuffix: string | null;
}

/** Positions by pattern segment: literal children, one `:param` child, patterns ending here, patterns ending here in `*` (null: none; 10 000 routes make ~30 000 nodes). */
interface Node { lit: Map<string, Node> | null; param: Node | null; ends: number[] | null; wild: number[] | null }

const node = (): Node => ({ lit: null, param: null, ends: null, wild: null });

/** One host bucket: its patterns as written and, for the case reading, with literals in lower case (null: the same tree). */
interface Bucket { readonly exact: Node; readonly folded: Node | null }

export class RouteIndex {
  private readonly any: Bucket;
  private readonly hosts = new Map<string, Bucket>();
  private readonly suffixes = new Map<string, Bucket>();

  /**
   * `patterns` in the table's order (positions are indices into it). `folded`: the case reading is checked and
   * some literal has upper case — a second tree keyed by the lower-case literals; without one the case
   * reading walks the tree as written (every literal is its own lower case).
   */
  constructor(patterns: readonly IndexedPattern[], folded: boolean) {
    const bucket = (): Bucket => ({ exact: node(), folded: folded ? node() : null });
    this.any = bucket();
    patterns.forEach((p, i) => {
      let b = this.any;
      if (p.hostExact !== null) { b = this.hosts.get(p.hostExact) ?? bucket(); this.hosts.set(p.hostExact, b); }
      else if (p.hostSuffix !== null) { b = this.suffixes.get(p.hostSuffix) ?? bucket(); this.suffixes.set(p.hostSuffix, b); }
      insert(b.exact, p.segs, p.kinds, i);
      if (b.folded !== null) insert(b.folded, p.lower, p.kinds, i);
    });
  }

  /**
   * Writes into `out` (from 0; returns the count) the position of every pattern of a host that `host`
   * matches and whose literal segments are `path`'s — a superset of the matches (a `:param` is not
   * checked for emptiness): the caller's path match decides. `fold`: literals compared ignoring ASCII
   * case (the case reading); `noSlash`: `path` has no
   * trailing '/' and a pattern's trailing '/' is ignored.
   */
  candidates(host: string, path: string, fold: boolean, noSlash: boolean, out: number[]): number {
    let n = collect(this.bucketRoot(this.any, fold), path, 1, fold, noSlash, out, 0);
    if (this.hosts.size !== 0) {
      const b = this.hosts.get(host);
      if (b !== undefined) n = collect(this.bucketRoot(b, fold), path, 1, fold, noSlash, out, n);
    }
    if (this.suffixes.size !== 0) {
      // `*.example.com` takes a host that ends with `.example.com` and has something before it
      for (let i = host.indexOf('.', 1); i !== -1; i = host.indexOf('.', i + 1)) {
        const b = this.suffixes.get(host.slice(i));
        if (b !== undefined) n = collect(this.bucketRoot(b, fold), path, 1, fold, noSlash, out, n);
      }
    }
    return n;
  }

  private bucketRoot(b: Bucket, fold: boolean): Node {
    return fold && b.folded !== null ? b.folded : b.exact;
  }
}

function insert(root: Node, segs: readonly string[], kinds: readonly number[], at: number): void {
  let n = root;
  for (let d = 0; d < segs.length; d++) {
    const kind = kinds[d]!;
    if (kind === WILD) { (n.wild ??= []).push(at); return; }
    if (kind === PARAM) { n = n.param ??= node(); continue; }
    const lit = n.lit ??= new Map();
    let c = lit.get(segs[d]!);
    if (c === undefined) lit.set(segs[d]!, c = node());
    n = c;
  }
  (n.ends ??= []).push(at);
}

function collect(n: Node, path: string, pos: number, fold: boolean, noSlash: boolean, out: number[], count: number): number {
  if (n.wild !== null) count = append(n.wild, out, count); // `/api/*` also matches `/api`
  if (pos > path.length) {
    if (n.ends !== null) count = append(n.ends, out, count);
    // the trailing-slash reading: `/api/` also matches `/api`
    const slash = noSlash && n.lit !== null ? n.lit.get('') : undefined;
    if (slash !== undefined && slash.ends !== null) count = append(slash.ends, out, count);
    return count;
  }
  let end = path.indexOf('/', pos);
  if (end === -1) end = path.length;
  if (n.lit !== null) {
    const c = n.lit.get(fold ? lowerAscii(path, pos, end) : path.slice(pos, end));
    if (c !== undefined) count = collect(c, path, end + 1, fold, noSlash, out, count);
  }
  if (n.param !== null) count = collect(n.param, path, end + 1, fold, noSlash, out, count);
  return count;
}

function append(from: readonly number[], out: number[], count: number): number {
  for (let k = 0; k < from.length; k++) out[count++] = from[k]!;
  return count;
}

/** path[pos, end) with A–Z in lower case (the case reading's literal compare; other characters as they are). */
function lowerAscii(path: string, pos: number, end: number): string {
  const s = path.slice(pos, end);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
  }
  return s;
}
