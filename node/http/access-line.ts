// The access log's `request` line of an HTTP/1.1 response, written as one string to the logger's
// destination: the bytes pino's `info(fields, 'request')` writes (its level and time prefix, the
// bindings, key order, string quoting, the token's redaction) without its per-key strings —
// ~2 KB of heap and ~0.6–1 µs less per response (bench/RESULTS.md, 2026-12-06 issue 13 alloc).
import { hash } from 'node:crypto';
import pino from 'pino';
import { pathWithoutTokens } from '../contracts/index.js';
import { Fingerprint, type Logger } from '../log.js';
import type { RequestContext } from '../pipeline/index.js';

/** What a line says about one finished response (node/http/relay.ts's fields). */
export interface AccessLineSource {
  ctx: Pick<RequestContext, 'route' | 'method' | 'path' | 'remoteAddress' | 'client' | 'trace' | 'denyReason' | 'principal' | 'token'>;
  status: number;
  outcome: string;
  upstreamMs: number;
  bytesIn: number;
  bytesOut: number;
  snap: { policyLabel: string };
}

/** Write `relay`'s access line (`reason`: why it did not complete, or null; `ms`: its duration). Never throws for a value's content. */
export type AccessLine = (relay: AccessLineSource, reason: string | null, ms: number) => void;

/** The line's fields as an object, in the line's order: what pino is given when the string cannot be built here. */
export function accessFields(relay: AccessLineSource, reason: string | null, ms: number): Record<string, unknown> {
  const ctx = relay.ctx;
  const tr = ctx.trace;
  return {
    route: ctx.route.name, method: ctx.method, path: pathWithoutTokens(ctx.path), status: relay.status, outcome: relay.outcome,
    ...(reason !== null ? { reason } : {}),
    ms: Math.round(ms * 1000) / 1000, upstream_ms: relay.upstreamMs < 0 ? null : Math.round(relay.upstreamMs * 1000) / 1000,
    bytes_in: relay.bytesIn, bytes_out: relay.bytesOut, client: ctx.client ?? ctx.remoteAddress,
    ...(ctx.client !== undefined ? { peer: ctx.remoteAddress } : {}), policy: relay.snap.policyLabel,
    ...(tr != null ? { trace_id: tr.traceId, span_id: tr.spanId } : {}),
    ...(ctx.denyReason !== null ? { deny: ctx.denyReason } : {}),
    ...(ctx.principal !== null ? { sub: ctx.principal.claims.sub, token: new Fingerprint(ctx.principal.fingerprint) }
      : ctx.token !== null ? { token: new Fingerprint(tokenFingerprint(ctx.token)) } : {}),
  };
}

const tokenFingerprint = (token: string): string => hash('sha256', token, 'hex').slice(0, 16);

/** pino's string quoting (its lib/tools.js `asString`): a value is written exactly as pino writes it. */
export function pinoQuote(str: string): string {
  if (str.length > 100) return JSON.stringify(str);
  let result = '';
  let last = 0;
  let found = false;
  let point = 255;
  for (let i = 0; i < str.length && point >= 32; i++) {
    point = str.charCodeAt(i);
    if (point === 34 || point === 92) {
      result += str.slice(last, i) + '\\';
      last = i;
      found = true;
    }
  }
  result = found ? result + str.slice(last) : str;
  return point < 32 ? JSON.stringify(str) : '"' + result + '"';
}

/** `str` as pinoQuote writes it, without the two quotes: `str` itself when nothing in it needs escaping. */
function inQuotes(str: string): string {
  if (str.length > 100) return JSON.stringify(str).slice(1, -1);
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92) return pinoQuote(str).slice(1, -1);
  }
  return str;
}

const num = (n: number): string => (Number.isFinite(n) ? '' + n : 'null');
const KEYS = ['route', 'method', 'path', 'status', 'outcome', 'reason', 'ms', 'upstream_ms', 'bytes_in', 'bytes_out', 'client', 'peer', 'policy', 'trace_id', 'span_id', 'deny', 'sub', 'token'];
type Internals = Record<symbol, unknown>;

/**
 * The writer for `logger`'s access lines. The string is built here only for a logger set up as
 * node/log.ts sets it up (no hooks, mixin, log formatter, nested key or message prefix; no
 * serializer or redaction of these keys but `token`'s); any other gets `logger.info(accessFields(…))`.
 */
export function accessLineWriter(logger: Logger): AccessLine {
  const viaPino: AccessLine = (relay, reason, ms) => logger.info(accessFields(relay, reason, ms), 'request');
  // msgPrefixSym is in pino's runtime symbols, not in its type of them
  const S = pino.symbols as typeof pino.symbols & { msgPrefixSym: symbol };
  const l = logger as unknown as Internals;
  const hooks = l[S.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const stringifiers = (l[S.stringifiersSym] ?? {}) as Record<string | symbol, ((v: unknown) => string | undefined) | undefined>;
  const serializers = (l[S.serializersSym] ?? {}) as Record<string, unknown>;
  const stream = l[S.streamSym] as { write(s: string): unknown } & Internals;
  const ls = (l[S.lsCacheSym] as Record<number, string> | undefined)?.[30];
  const plain = hooks?.logMethod === undefined && hooks?.streamWrite === undefined && l[S.mixinSym] == null
    && (l[S.formattersSym] as { log?: unknown } | undefined)?.log === undefined && l[S.nestedKeySym] == null
    && (l[S.msgPrefixSym] ?? '') === '' && l[S.messageKeySym] === 'msg' && typeof ls === 'string' && typeof stream?.write === 'function'
    && stream[S.needsMetadataGsym] !== true && stringifiers[S.wildcardFirstSym] === undefined
    && KEYS.every((k) => serializers[k] === undefined && (k === 'token' || stringifiers[k] === undefined));
  if (!plain) return viaPino;
  const tokenStringifier = stringifiers.token;
  const tokenValue = (hex: string): string | undefined => (tokenStringifier === undefined ? '"' + hex + '"' : tokenStringifier(new Fingerprint(hex)));
  // route names and the policy label repeat from one response to the next: quoted once per change
  let routeName = '', routeQ = '""', policy = '', policyQ = '""';
  return (relay, reason, ms) => {
    if (!logger.isLevelEnabled('info')) return;
    const ctx = relay.ctx;
    const sub = ctx.principal === null ? undefined : ctx.principal.claims.sub;
    if (sub !== undefined && typeof sub !== 'string') { viaPino(relay, reason, ms); return; } // pino's JSON of a non-string claim
    if (ctx.route.name !== routeName) { routeName = ctx.route.name; routeQ = pinoQuote(routeName); }
    if (relay.snap.policyLabel !== policy) { policy = relay.snap.policyLabel; policyQ = pinoQuote(policy); }
    const tr = ctx.trace;
    const token = ctx.principal !== null ? tokenValue(ctx.principal.fingerprint) : ctx.token !== null ? tokenValue(tokenFingerprint(ctx.token)) : undefined;
    const time = (l[S.timeSym] as (this: unknown) => string).call(l);
    // the separators carry the quotes around a value that needs no escaping (nearly every one): fewer strings joined
    stream.write(ls + time + (l[S.chindingsSym] as string)
      + ',"route":' + routeQ + ',"method":"' + inQuotes(ctx.method) + '","path":"' + inQuotes(pathWithoutTokens(ctx.path)) + '","status":' + num(relay.status)
      + ',"outcome":"' + inQuotes(relay.outcome) + (reason !== null ? '","reason":"' + inQuotes(reason) : '')
      + '","ms":' + num(Math.round(ms * 1000) / 1000) + ',"upstream_ms":' + (relay.upstreamMs < 0 ? 'null' : num(Math.round(relay.upstreamMs * 1000) / 1000))
      + ',"bytes_in":' + num(relay.bytesIn) + ',"bytes_out":' + num(relay.bytesOut) + ',"client":"' + (ctx.client === undefined ? inQuotes(ctx.remoteAddress) : inQuotes(ctx.client) + '","peer":"' + inQuotes(ctx.remoteAddress)) + '","policy":' + policyQ
      + (tr != null ? ',"trace_id":"' + inQuotes(tr.traceId) + '","span_id":"' + inQuotes(tr.spanId) + '"' : '')
      + (ctx.denyReason !== null ? ',"deny":"' + inQuotes(ctx.denyReason) + '"' : '')
      + (sub !== undefined ? ',"sub":"' + inQuotes(sub) + '"' : '') + (token !== undefined ? ',"token":' + token : '')
      + ',"msg":"request"' + (l[S.endSym] as string));
  };
}
