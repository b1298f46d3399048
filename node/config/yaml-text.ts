// Turns operator-supplied YAML or JSON text (a config file, a policy pushed to the admin API) into plain
// data without letting the text exhaust the process: a size cap, a flow-nesting cap checked before the
// parser runs, the alias-expansion cap, numbers JSON and timers can hold; plain JSON skips yaml. Read as
// YAML 1.2 only: a %YAML 1.1 directive or a tag yaml would ignore is refused, never guessed.
import { isScalar, parseDocument, visit, type Document } from 'yaml';
import type { ConfigProblem } from './problem.js';

/**
 * Largest config or policy text accepted: 2 MiB. A 10 000-route config is ~1 MiB (4 s to check);
 * yaml 2.x spends ~4 s and ~350 MB per MiB of many small nodes, on the event loop of a process
 * that is serving, so the cap bounds what one reload can cost (~8 s, ~700 MB).
 */
export const MAX_YAML_BYTES = 2 * 1024 * 1024;
/** Deepest `[`/`{` nesting, and most `- `/`? ` on one line, accepted; a config needs fewer than 10. */
export const MAX_FLOW_DEPTH = 64;
/** Alias expansions accepted when the document becomes data (yaml's default is 100 as well). */
const MAX_ALIAS_COUNT = 100;

/**
 * Compact block indicators (`- - - x`, `? ? x`) opening the line at `i`: each is one more level of
 * nesting on that line. Returns the index after them and their count.
 */
function compactIndicators(text: string, i: number): [next: number, count: number] {
  let count = 0;
  while (i < text.length && text.charCodeAt(i) === 32) i++;
  for (;;) {
    const c = text.charCodeAt(i);
    if ((c === 45 || c === 63) && (text.charCodeAt(i + 1) === 32 || text.charCodeAt(i + 1) === 9)) { // '- ' '? '
      count++;
      for (i += 2; text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9; i++);
    } else return [i, count];
  }
}

/**
 * The line where the nesting of `text` passes `limit` — flow collections (`[`, `{`; quoted scalars
 * and comments skipped) or compact block indicators on one line (`- - - …`) — or null when it stays
 * within. Linear, no recursion: it runs before the parser, whose recursion a million `[` would
 * exhaust after seconds and gigabytes.
 */
function nestingTooDeep(text: string, limit: number): number | null {
  let depth = 0, line = 1;
  if (compactIndicators(text, 0)[1] > limit) return 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      const [next, count] = compactIndicators(text, i + 1);
      if (count > limit) return line;
      i = next - 1;
    }
    else if (c === 91 || c === 123) { if (++depth > limit) return line; } // [ {
    else if (c === 93 || c === 125) { if (depth > 0) depth--; } // ] }
    else if (c === 35 && (i === 0 || /\s/.test(text[i - 1]!))) { while (i + 1 < text.length && text.charCodeAt(i + 1) !== 10) i++; } // # comment
    else if (c === 34 || c === 39) { // "…" or '…': brackets inside are text
      const q = c;
      for (i++; i < text.length && text.charCodeAt(i) !== q; i++) {
        if (text.charCodeAt(i) === 10) line++;
        else if (q === 34 && text.charCodeAt(i) === 92) i++; // \" escape
      }
    }
  }
  return null;
}

/**
 * Does any mapping of `doc` hold two scalar keys with the same value? Linear (a set per mapping).
 * It finds every duplicate yaml's `uniqueKeys` check finds (equal scalar values; distinct key
 * nodes are never the same node), and may also flag NaN keys, which only costs a second parse.
 */
function mayRepeatKeys(doc: Document.Parsed): boolean {
  let found = false;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) { found = true; return visit.BREAK; }
        seen.add(pair.key.value);
      }
      return undefined;
    },
  });
  return found;
}

/** Keys written in JSON `text` (strings followed by `:`); exact for text JSON.parse accepted. */
function keysWritten(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 34) continue; // "
    for (i++; text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++; // \ escapes one
    let k = i + 1;
    while (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 10) k++;
    if (text.charCodeAt(k) === 58) n++; // :
  }
  return n;
}

/** Keys held by the objects of `v` (JSON.parse keeps the last of repeated keys: fewer than written). */
function keysHeld(v: unknown): number {
  if (Array.isArray(v)) { let n = 0; for (const x of v) n += keysHeld(x); return n; }
  if (v === null || typeof v !== 'object') return 0;
  let n = 0;
  for (const k of Object.keys(v)) n += 1 + keysHeld((v as Record<string, unknown>)[k]);
  return n;
}

/**
 * The data of `text` when it is a JSON object or array in printable ASCII and newlines without a
 * repeated key — what yaml makes of it too (a property test compares them), ~10× faster (a
 * generated 10 000-route policy: 0.2 s instead of 2–3 s of the CLI's push, or of the event loop
 * answering POST /policy). Anything else (YAML, tabs, CR, non-ASCII, a repeated key): undefined, and yaml judges it.
 */
function plainJson(text: string): { raw: unknown } | undefined {
  if (!/^[ \n]*[[{]/.test(text) || /[^\x20-\x7e\n]/.test(text)) return undefined;
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { return undefined; }
  return keysHeld(raw) === keysWritten(text) ? { raw } : undefined;
}

/** Longest `*_ms` duration: Node's timers hold 2^31-1 ms (~24.8 days) and fire after 1 ms past it. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Numbers that are not safe integers or finite floats, and `*_ms` past MAX_TIMER_MS, with their paths (at most 20). */
function badNumbers(v: unknown, path: string, out: ConfigProblem[]): void {
  if (out.length >= 20) return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) && !Number.isNaN(v)) out.push({ path: path || '(root)', message: 'number out of range (infinite)' });
    else if (Number.isInteger(v) && !Number.isSafeInteger(v)) out.push({ path: path || '(root)', message: `number out of range: integers up to ${Number.MAX_SAFE_INTEGER}` });
    else if (path.endsWith('_ms') && v > MAX_TIMER_MS) out.push({ path, message: `at most ${MAX_TIMER_MS} ms (~24.8 days, the longest timer Node.js can set)` });
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => badNumbers(x, `${path}[${i}]`, out));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) badNumbers(x, path === '' ? k : `${path}.${k}`, out);
  }
}

/** The parser's first message line without its " at line L, column C:" tail (the code frame after it, which
 *  would show the file's text, is left out; the line is the problem's path): the column said in words. */
function yamlMessage(message: string, col: number | undefined): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return col === undefined ? first : `${first} (column ${col})`;
}

/** yaml's "Unresolved alias … : name" (a `*name` with no `&name` before it) as a problem at the alias's
 *  line and column; null for any other error. The name is the document's own text, cut to 64 characters. */
function unresolvedAlias(message: string, doc: Document, text: string): ConfigProblem | null {
  const m = /^Unresolved alias[^:]*: (.*)$/s.exec(message);
  if (m === null) return null;
  const name = m[1]!;
  let offset: number | undefined;
  visit(doc, { Alias(_, node) { if (node.source === name && offset === undefined) { offset = node.range?.[0]; return visit.BREAK; } return undefined; } });
  const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  const what = `alias *${shown} is not defined: no anchor &${shown} before it (an anchor must come before its aliases)`;
  if (offset === undefined) return { path: '(document)', message: what };
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { path: `line ${line}`, message: `${what} (column ${offset - before.lastIndexOf('\n')})` };
}

/** Parser warnings that mean the text was read otherwise than written: a directive or a tag yaml ignored. */
const GUESSED = new Set(['BAD_DIRECTIVE', 'TAG_RESOLVE_FAILED', 'BAD_COLLECTION_TYPE']);

/**
 * Text that YAML 1.2 and the text itself read differently, as problems at their line: a `%YAML 1.1`
 * directive (yaml then reads `no`/`off`/`y` as false, `017` as 15, `1:30` as 90 and merges `<<:` keys —
 * a template's `auth: none` into a route that wrote no auth), an unknown directive or version, and a tag
 * yaml cannot resolve (`!!bool yes` became the string "yes"). The same file must mean one thing.
 */
function readingProblems(doc: Document.Parsed, text: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (doc.directives?.yaml.explicit === true && doc.directives.yaml.version === '1.1') {
    const line = text.slice(0, Math.max(0, text.search(/^%YAML/m))).split('\n').length;
    out.push({ path: `line ${line}`, message: '%YAML 1.1 is not read: the config is YAML 1.2, where yes/no/on/off are strings, 017 is 17 and `<<:` is no merge key; remove the directive (write true/false, and each route in full)' });
  }
  for (const w of doc.warnings) {
    if (!GUESSED.has(w.code)) continue;
    out.push({ path: `line ${w.linePos?.[0]?.line ?? '?'}`, message: `${yamlMessage(w.message, w.linePos?.[0]?.col)}: refused, the value would be read otherwise than written` });
  }
  return out;
}

/**
 * Parse YAML (or JSON) text to plain data. Never throws: too large, too deeply nested, a syntax
 * error, too many alias expansions (a "billion laughs" document) or out-of-range numbers come
 * back as problems naming the line or the path.
 */
export function parseYamlText(text: string): { ok: true; raw: unknown } | { ok: false; errors: ConfigProblem[] } {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) return { ok: false, errors: [{ path: '(document)', message: `${bytes} bytes, more than the ${MAX_YAML_BYTES} bytes accepted` }] };
  const deep = nestingTooDeep(text, MAX_FLOW_DEPTH);
  if (deep !== null) return { ok: false, errors: [{ path: `line ${deep}`, message: `nested deeper than ${MAX_FLOW_DEPTH} levels ([ ], { } or - - - on one line)` }] };
  const json = plainJson(text);
  if (json !== undefined) {
    const errors: ConfigProblem[] = [];
    badNumbers(json.raw, '', errors);
    return errors.length > 0 ? { ok: false, errors } : { ok: true, raw: json.raw };
  }
  let doc: Document.Parsed | undefined;
  try {
    doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
    // yaml's own duplicate-key check scans the map's keys for every key (O(k²): seconds for a map of a
    // few thousand upstreams); a set finds whether there may be one, and only then does yaml's check
    // run, so a duplicate (or any error) is reported in its words, at its line, in its order
    if (doc.errors.length > 0 || mayRepeatKeys(doc)) doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      return { ok: false, errors: doc.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: yamlMessage(e.message, e.linePos?.[0]?.col) })) };
    }
    const reading = readingProblems(doc, text);
    if (reading.length > 0) return { ok: false, errors: reading };
    const raw: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    const errors: ConfigProblem[] = [];
    badNumbers(raw, '', errors);
    return errors.length > 0 ? { ok: false, errors } : { ok: true, raw };
  } catch (err) {
    // yaml throws (rather than reports) on alias bombs and on an alias with no anchor before it; a deep
    // block nesting can exhaust the stack
    const unresolved = err instanceof ReferenceError && doc !== undefined ? unresolvedAlias(err.message, doc, text) : null;
    if (unresolved !== null) return { ok: false, errors: [unresolved] };
    const message = err instanceof ReferenceError && /alias/i.test(err.message)
      ? `more than ${MAX_ALIAS_COUNT} alias expansions (*name): refused as a resource-exhaustion ("billion laughs") document`
      : err instanceof RangeError ? 'nested too deeply to read' : `cannot be read: ${(err as Error).message}`;
    return { ok: false, errors: [{ path: '(document)', message }] };
  }
}
