// The client-certificate stage: a route's `client_cert` rule (subject CN, SAN URI such as a SPIFFE
// id, SAN DNS) compiled once and judged against the connection's verified certificate. Runs
// before any token stage, so a request from the wrong service never costs a token verification.
import { proxyError, type ErrorCode } from '../errors.js';
import type { ClientCertRuleConfig } from '../config/client-cert-schema.js';
import { CONTINUE, type ClientCertificate, type RequestContext, type StageResult } from './context.js';

/** One compiled pattern: exact, or a prefix (`spiffe://t/ns/x/*` → `spiffe://t/ns/x/`, `*.a.b` → one label + `.a.b`). */
interface Pattern {
  readonly exact: string | null;
  readonly prefix: string | null;
  readonly suffix: string | null;
}

export interface ClientCertRule {
  readonly cn: readonly Pattern[] | null;
  readonly uri: readonly Pattern[] | null;
  readonly dns: readonly Pattern[] | null;
  /** One line naming the rule (explain, check-config). */
  readonly text: string;
}

const deny = (code: ErrorCode, message: string, reason: string): StageResult =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError(code, message)), reason });

const UNAVAILABLE = deny('PORTCULLIS_ERR_CLIENT_CERT_UNAVAILABLE',
  'this route requires a client certificate, which this listener cannot see: use the HTTP/2 TLS listener with client certificates', 'client_cert_unavailable');
const MISSING = deny('PORTCULLIS_ERR_CLIENT_CERT_MISSING', 'this route requires a client certificate and none was presented', 'client_cert_missing');
const MISMATCH = {
  cn: deny('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN', "the client certificate's subject CN is not allowed on this route", 'client_cert_mismatch:subject_cn'),
  uri: deny('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN', "no SAN URI of the client certificate is allowed on this route", 'client_cert_mismatch:san_uri'),
  dns: deny('PORTCULLIS_ERR_CLIENT_CERT_FORBIDDEN', "no SAN DNS name of the client certificate is allowed on this route", 'client_cert_mismatch:san_dns'),
} as const;

function compile(list: readonly string[] | undefined, kind: 'cn' | 'uri' | 'dns'): readonly Pattern[] | null {
  if (list === undefined) return null;
  return Object.freeze(list.map((v): Pattern => {
    if (kind === 'uri' && v.endsWith('/*')) return { exact: null, prefix: v.slice(0, -1), suffix: null };
    if (kind === 'dns' && v.startsWith('*.')) return { exact: null, prefix: null, suffix: v.slice(1).toLowerCase() };
    return { exact: kind === 'dns' ? v.toLowerCase() : v, prefix: null, suffix: null };
  }));
}

/** Compile a route's `client_cert` block (validated by node/config/client-cert-schema.ts). */
export function compileClientCertRule(c: ClientCertRuleConfig): ClientCertRule {
  const parts: string[] = [];
  if (c.subject_cn !== undefined) parts.push(`subject_cn ∈ [${c.subject_cn.join(', ')}]`);
  if (c.san_uri !== undefined) parts.push(`san_uri ∈ [${c.san_uri.join(', ')}]`);
  if (c.san_dns !== undefined) parts.push(`san_dns ∈ [${c.san_dns.join(', ')}]`);
  return Object.freeze({ cn: compile(c.subject_cn, 'cn'), uri: compile(c.san_uri, 'uri'), dns: compile(c.san_dns, 'dns'), text: parts.join(' and ') });
}

const DOT_SEGMENT = /\/\.\.?(\/|$)/;

function matches(p: Pattern, v: string, dns: boolean): boolean {
  if (p.exact !== null) return (dns ? v.toLowerCase() : v) === p.exact;
  // a prefix needs at least one character after it; `*.a.b` exactly one label before `.a.b`
  // (dot segments refused: `spiffe://t/ns/x/../y` is not under `spiffe://t/ns/x/`)
  if (p.prefix !== null) return v.length > p.prefix.length && v.startsWith(p.prefix) && !DOT_SEGMENT.test(v.slice(p.prefix.length - 1));
  const l = v.toLowerCase();
  const s = p.suffix!;
  return l.length > s.length && l.endsWith(s) && !l.slice(0, l.length - s.length).includes('.');
}

function anyMatch(ps: readonly Pattern[], values: readonly string[], dns: boolean): boolean {
  for (const v of values) for (const p of ps) if (matches(p, v, dns)) return true;
  return false;
}

/** Judge `cert` against `rule`: the first field that does not match, or CONTINUE. Pure. */
export function judgeCertificate(rule: ClientCertRule, cert: ClientCertificate): StageResult {
  // several CN attributes: which one names the peer is ambiguous, so none does
  if (rule.cn !== null && (cert.commonNames.length !== 1 || !anyMatch(rule.cn, cert.commonNames, false))) return MISMATCH.cn;
  if (rule.uri !== null && !anyMatch(rule.uri, cert.uris, false)) return MISMATCH.uri;
  if (rule.dns !== null && !anyMatch(rule.dns, cert.dns, true)) return MISMATCH.dns;
  return CONTINUE;
}

/**
 * The stage: 421 when the listener cannot see certificates (ctx.clientCert undefined), 401 when
 * the connection presented none, 403 when it does not match. Never allows without a certificate.
 */
export function checkClientCert(rule: ClientCertRule, ctx: RequestContext): StageResult {
  const cert = ctx.clientCert;
  if (cert === undefined) return UNAVAILABLE;
  if (cert === null) return MISSING;
  return judgeCertificate(rule, cert);
}
