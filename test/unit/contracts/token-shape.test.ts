// What counts as a raw token in operator-written text (node/contracts/token-shape.ts): compact JWS and
// JWE, with or without a Bearer/DPoP prefix, are; identifiers that merely have dots or base64 are not.
// A path as logs write it names such a token by fingerprint and keeps everything else.
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { carriesCompactToken, isCompactToken, pathWithoutTokens, rawPathWithoutTokens } from '../../../node/contracts/index.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWS = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ sub: 'alice' })}.c2lnbmF0dXJl`;
const JWE = `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.ZW5j.aXY.Y2lwaGVy.dGFn`;

describe('isCompactToken', () => {
  it('is true for a JWS, a JWE and either after Bearer or DPoP', () => {
    for (const t of [JWS, JWE, `Bearer ${JWS}`, `dpop ${JWE}`, `${b64({ alg: 'none' })}.${b64({})}.`]) expect(isCompactToken(t), t).toBe(true);
  });

  it('is true for a token pasted with a space or tab at an end (a kid value may have one: it was stored and sent to every member)', () => {
    for (const t of [`${JWS} `, ` ${JWS}`, `\t${JWE}`, `Bearer ${JWS}  `]) expect(isCompactToken(t), JSON.stringify(t)).toBe(true);
  });

  it('is false for identifiers: a uuid, an email, dotted names, base64 without a JOSE header, 4 parts', () => {
    const notTokens = ['4aa1a9f2-653a-4957-9b6f-51ca470e841c', 'alice@example.com', 'svc.orders.reader', 'rs256-1',
      `${b64({ typ: 'JWT' })}.${b64({})}.x`, `${b64(['alg'])}.e30.x`, `${JWS}.extra`, 'eyJhbGciOiJSUzI1NiJ9'];
    for (const t of notTokens) expect(isCompactToken(t), t).toBe(false);
  });
});

describe('carriesCompactToken', () => {
  it('finds a token inside free text, not a header-less look-alike', () => {
    expect(carriesCompactToken(`leaked in ticket #42: ${JWS} (rotate)`)).toBe(true);
    expect(carriesCompactToken('compromised laptop, user alice')).toBe(false);
    expect(carriesCompactToken(`eyJub3QiOiJhbGcifQ.${b64({})}.x`)).toBe(false);
  });
});

describe('pathWithoutTokens', () => {
  const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);

  it('names a JWS or a whole JWE in a path segment by fingerprint, keeping the rest of the path', () => {
    expect(pathWithoutTokens(`/download/${JWS}/file.pdf`)).toBe(`/download/[token ${fp(JWS)}]/file.pdf`);
    expect(pathWithoutTokens(`/a/${JWE}`)).toBe(`/a/[token ${fp(JWE)}]`);
    expect(pathWithoutTokens(`/x/${JWS}/y/${JWS}`)).toBe(`/x/[token ${fp(JWS)}]/y/[token ${fp(JWS)}]`);
  });

  it('returns a path without a token as it is: ids, hashes, an eyJ run whose header names no alg', () => {
    const kept = ['/orders/42', '/', '/blobs/sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      '/files/eyJhbGciOiJSUzI1NiJ9', `/x/eyJub3QiOiJhbGcifQ.${b64({})}.x`, '/q/eyJ%zz.a.b'];
    for (const p of kept) expect(pathWithoutTokens(p), p).toBe(p);
  });
});

describe('rawPathWithoutTokens (a path as received)', () => {
  const fp = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 16);

  it('names a token whose dots or letters are percent-escaped (a path refused before normalising is logged as received)', () => {
    const dots = JWS.replaceAll('.', '%2E');
    expect(rawPathWithoutTokens(`/files/${dots}/%zz`)).toBe(`/files/[token ${fp(JWS)}]/%zz`);
    expect(rawPathWithoutTokens(`/f/${JWS.replace('.', '%2e')}`)).toBe(`/f/[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/f/%65${JWS.slice(1)}`)).toBe(`/f/[token ${fp(JWS)}]`);
    expect(rawPathWithoutTokens(`/f/${JWE.replaceAll('.', '%2E')}`)).toBe(`/f/[token ${fp(JWE)}]`);
    expect(rawPathWithoutTokens(`/a/${JWS}/b/${JWE.replaceAll('.', '%2e')}`)).toBe(`/a/[token ${fp(JWS)}]/b/[token ${fp(JWE)}]`);
  });

  it('keeps a path with escapes but no token exactly as received (other escapes, %2E between ids)', () => {
    const kept = ['/caf%C3%A9/menu', '/a%2Fb/%41bc', '/v1/report%2Ejson', `/x/eyJub3QiOiJhbGcifQ%2E${b64({})}%2Ex`, '/%zz%2', '/%'];
    for (const p of kept) expect(rawPathWithoutTokens(p), p).toBe(p);
  });

  it('is pathWithoutTokens for a path without escapes', () => {
    expect(rawPathWithoutTokens(`/download/${JWS}/file.pdf`)).toBe(pathWithoutTokens(`/download/${JWS}/file.pdf`));
    expect(rawPathWithoutTokens('/orders/42')).toBe('/orders/42');
  });
});
