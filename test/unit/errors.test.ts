// The error registry, table-driven: every code unique, well-formed, documented (in
// the registry and in the README), its status sane for its source; every code used
// anywhere in the sources exists; and the one error→response function renders it.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS, UPSTREAM_ERRORS, proxyError, type ErrorCode, type ErrorSpec } from '../../node/errors.js';
import { challenge, errorBody } from '../../node/http/respond.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const codes = Object.keys(ERRORS) as ErrorCode[];
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('error registry', () => {
  it('has codes', () => expect(codes.length).toBeGreaterThan(10));

  it('codes are unique, also case-insensitively and by status+meaning', () => {
    expect(new Set(codes.map((c) => c.toLowerCase())).size).toBe(codes.length);
    expect(new Set(codes.map((c) => ERRORS[c].doc)).size).toBe(codes.length);
  });

  it.each(codes)('%s is well-formed, documented and sane', (code) => {
    const spec: ErrorSpec = ERRORS[code];
    // an area may carry a digit (H2: HTTP/2's own failures)
    expect(code).toMatch(/^PORTCULLIS_ERR_[A-Z][A-Z0-9]*(_[A-Z]+)*$/);
    expect(spec.doc.length).toBeGreaterThan(10);
    expect(['downstream', 'upstream', 'internal']).toContain(spec.source);
    expect(Number.isInteger(spec.status)).toBe(true);
    // Client mistakes are 4xx; upstream and internal failures are 5xx.
    if (spec.source === 'downstream') expect(spec.status).toBeGreaterThanOrEqual(400), expect(spec.status).toBeLessThan(500);
    else expect(spec.status).toBeGreaterThanOrEqual(500), expect(spec.status).toBeLessThan(600);
    // Only timeouts, throttling and 5xx are worth retrying.
    if (spec.retryable) expect(spec.status === 408 || spec.status === 429 || spec.status >= 500).toBe(true);
    // The README error table lists it with its status.
    expect(README).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${spec.status}\\s*\\|`));
  });

  it('every PORTCULLIS_ERR_ code the README or deploy/ names is registered (a renamed code leaves no stale name behind)', () => {
    const named = new Set<string>();
    for (const f of [join(ROOT, 'README.md'), join(ROOT, 'deploy', 'README.md')]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/PORTCULLIS_ERR_[A-Z0-9_]*[A-Z0-9]/g)) named.add(m[0]);
    }
    expect(named.size).toBeGreaterThan(codes.length / 2);
    expect([...named].filter((c) => !(c in ERRORS))).toEqual([]);
  });

  it('every PORTCULLIS_ERR_ code used in node/ and cluster/ is registered', () => {
    const used = new Set<string>();
    for (const f of [...sources(join(ROOT, 'node')), ...sources(join(ROOT, 'cluster'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/PORTCULLIS_ERR_[A-Z0-9_]*[A-Z0-9]/g)) used.add(m[0]);
    }
    expect([...used].filter((c) => !(c in ERRORS))).toEqual([]);
  });

  it('every upstream-client code (H1_*, H2_*) used in node/ is registered and documented', () => {
    const used = new Set<string>();
    for (const f of sources(join(ROOT, 'node'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/'(H[12]_[A-Z_]*[A-Z])'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((c) => !(c in UPSTREAM_ERRORS))).toEqual([]);
    for (const [code, spec] of Object.entries(UPSTREAM_ERRORS)) {
      expect(code).toMatch(/^H[12]_[A-Z]+(_[A-Z]+)*$/);
      expect(spec.doc.length).toBeGreaterThan(10);
      expect(['upstream', 'proxy', 'request']).toContain(spec.blame);
    }
  });

  it('auth errors render the RFC 6750 challenge; others none', () => {
    expect(challenge(proxyError('PORTCULLIS_ERR_AUTH_MISSING', 'x'), 'portcullis')).toBe('Bearer realm="portcullis"');
    expect(challenge(proxyError('PORTCULLIS_ERR_AUTH_INSUFFICIENT_SCOPE', 'need "more"', { scope: 'orders:write' }), 'p'))
      .toBe('Bearer realm="p", error="insufficient_scope", error_description="need more", scope="orders:write"');
    expect(challenge(proxyError('PORTCULLIS_ERR_ROUTE_NOT_FOUND', 'x'), 'p')).toBeNull();
  });

  it.each(codes)('%s renders as a JSON body carrying the code', (code) => {
    const body = JSON.parse(errorBody(proxyError(code, 'some message'))) as Record<string, unknown>;
    expect(body).toMatchObject({ code, message: 'some message' });
    expect(typeof body.error).toBe('string');
    expect(body.error).not.toBe('');
  });
});
