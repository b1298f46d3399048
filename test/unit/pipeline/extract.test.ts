// Extract stage: where a bearer token may come from (RFC 6750 §2), what is refused
// (two credentials, query tokens by default, malformed Bearer), and that no header
// string makes it throw.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { extract, compileSources, BEARER_ONLY, type CompiledSources } from '../../../node/pipeline/extract.js';
import { CONTINUE, type StageResult } from '../../../node/pipeline/context.js';
import { compiled, ctxFor, route } from './pipeline-helpers.js';
import { requestHead } from '../../../node/upstream/h1-request-head.js';
import type { RouteAuthConfig } from '../../../node/config/index.js';

const R = compiled(route({}));
/** A route's token_sources as validation leaves them (query and websocket_protocol default to false), compiled. */
const sourcesOf = (s: Partial<RouteAuthConfig['token_sources']>): CompiledSources => compileSources({ query: false, websocket_protocol: false, ...s });
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';

function run(headers: string[], query = '', sources: CompiledSources = BEARER_ONLY): { r: StageResult; token: string | null; source: string | null } {
  const ctx = ctxFor(R, { headers, query });
  const r = extract(ctx, sources);
  return { r, token: ctx.token, source: ctx.tokenSource };
}
const reasonOf = (r: StageResult): string => (r.kind === 'deny' ? r.reason : 'continue');
const codeOf = (r: StageResult): string => (r.kind === 'deny' ? r.error.code : 'continue');

describe('extract: Authorization header', () => {
  it('reads the token of a Bearer credential whatever the scheme case', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const { r, token, source } = run(['authorization', `${scheme} ${JWT}`]);
      expect(r).toBe(CONTINUE);
      expect(token).toBe(JWT);
      expect(source).toBe('header');
    }
  });

  it('accepts several spaces after the scheme and surrounding whitespace, and b64token padding', () => {
    expect(run(['authorization', `Bearer   abc+/~._-Z==`]).token).toBe('abc+/~._-Z==');
    expect(run(['authorization', ` \tBearer tok \t`]).token).toBe('tok');
  });

  it('refuses a Bearer credential that is not exactly one b64token with 400 invalid_request', () => {
    for (const v of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a,b', 'Bearer\ttok', 'Bearer tok"', 'Bearer =abc', 'Bearer a=b', 'bearer tök',
      // run into a character no scheme name has: code that strips a `Bearer` prefix reads a token there
      'Bearer:tok', 'Bearer: tok', 'bearer,tok', 'Bearer=tok', 'Bearer"tok"', 'Bearer/tok']) {
      const { r, token } = run(['authorization', v]);
      expect(reasonOf(r), v).toBe('malformed_authorization');
      expect(codeOf(r)).toBe('PORTCULLIS_ERR_AUTH_INVALID_REQUEST');
      expect(token).toBeNull();
    }
  });

  it('treats another scheme (Basic, Digest, Bearerx) as no bearer credential', () => {
    // `DPoP tok` is a credential since DPoP support (RFC 9449): test/unit/dpop/dpop-stage.test.ts
    for (const v of ['Basic dXNlcjpwYXNz', 'Digest username="a"', 'Bearerx tok', 'DPoPx tok', 'Bearer-2 tok', '']) {
      const { r, token, source } = run(['authorization', v]);
      expect(r, v).toBe(CONTINUE);
      expect(token).toBeNull();
      expect(source).toBeNull();
    }
  });

  it('refuses two Authorization headers, even when one is Basic', () => {
    expect(reasonOf(run(['authorization', 'Bearer a', 'authorization', 'Bearer a']).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['authorization', 'Basic eA==', 'authorization', 'Bearer a']).r)).toBe('multiple_credentials');
  });

  it('finds no credential in a request without one', () => {
    const { r, token } = run(['host', 'example.com', 'accept', '*/*'], 'a=1&b=2');
    expect(r).toBe(CONTINUE);
    expect(token).toBeNull();
  });
});

describe('extract: query parameter', () => {
  it('a query token where the route does not allow one is no credential (RFC 6750 §3.1): 401 without an error code', () => {
    const { r, token } = run([], 'x=1&access_token=abc');
    expect(codeOf(r)).toBe('PORTCULLIS_ERR_AUTH_MISSING');
    expect(reasonOf(r)).toBe('query_token_unsupported');
    expect(token).toBeNull();
    // a percent-encoded key is the same parameter
    expect(codeOf(run([], 'access%5Ftoken=abc').r)).toBe('PORTCULLIS_ERR_AUTH_MISSING');
    expect(codeOf(run([], 'access_token').r)).toBe('PORTCULLIS_ERR_AUTH_MISSING');
  });

  it('a query token next to another credential on such a route: 400 (two methods; never forwarded unverified)', () => {
    expect(reasonOf(run(['authorization', 'Bearer a'], 'access_token=b').r)).toBe('multiple_credentials');
    expect(codeOf(run(['authorization', 'Bearer a'], 'access_token=b').r)).toBe('PORTCULLIS_ERR_AUTH_INVALID_REQUEST');
  });

  it('reads a form-encoded access_token where the route allows it', () => {
    const sources = sourcesOf({ query: true });
    const { r, token, source } = run([], 'x=1&access_token=ab%2Bc%2F', sources);
    expect(r).toBe(CONTINUE);
    expect(token).toBe('ab+c/');
    expect(source).toBe('query');
    // "+" is a space in form encoding: not a b64token
    expect(reasonOf(run([], 'access_token=a+b', sources).r)).toBe('malformed_token_query');
    expect(reasonOf(run([], 'access_token=%zz', sources).r)).toBe('malformed_token_query');
    expect(reasonOf(run([], 'access_token=', sources).r)).toBe('malformed_token_query');
  });

  it('refuses header plus query and a repeated query parameter', () => {
    const sources = sourcesOf({ query: true });
    expect(reasonOf(run(['authorization', 'Bearer a'], 'access_token=b', sources).r)).toBe('multiple_credentials');
    expect(reasonOf(run([], 'access_token=a&access_token=b', sources).r)).toBe('multiple_credentials');
    // a similarly named parameter is not the token
    expect(run([], 'my_access_token=a', sources).token).toBeNull();
  });

  it('a name PHP, qs, Rack 2 or ASP.NET Core reads as access_token is a second credential; names no parser reads so are not', () => {
    for (const q of ['+access_token=b', '%20%20access.token=b', 'access_token%00=b', 'access_token%00x=b', 'access.token[]=b',
      'access%20token[x]=b', 'access[token=b', 'ACCESS_TOKEN=b', 'Access_Token=b', 'x=1&aCcEsS_tOkEn=b',
      // behind an escape decodeURIComponent refuses (PHP and qs decode byte-wise, keeping it)
      'access_token%00%FF=b', 'access.token[%zz]=b', 'access_token[%FF]=b', 'a=1;access_token%00%zz=b',
      // letters .NET's OrdinalIgnoreCase and Unicode folding take for ASCII ones (ſ is s)
      'acce%C5%BF%C5%BF_token=b', 'ACCE%C5%BFS_TOKEN=b',
      // qs (Express 4's req.query) reads a leading [name] group as the name, Rack 2 skips leading brackets
      '[access_token]=b', '%5Baccess_token%5D=b', '[access_token][x]=b', ']access_token=b', 'access_token]=b', '[[access_token=b']) {
      expect(reasonOf(run(['authorization', 'Bearer a'], q).r), q).toBe('multiple_credentials');
    }
    for (const q of ['access_token_=b', 'access_tokens=b', 'x%00access_token=b', 'access[token]=b', 'ACCESS=b',
      'access_token%FF=b', 'acce%C3%9F_token=b', 'q=%FF&page=2', 'x[access_token]=b', '[x]access_token=b']) {
      expect(run(['authorization', 'Bearer a'], q).r, q).toBe(CONTINUE);
    }
  });
});

describe('extract: custom header and cookie', () => {
  const both = sourcesOf({ header: 'X-Access-Token', cookie: 'at', query: false });

  it('reads a bare token from the configured header (name case-insensitive)', () => {
    const { r, token, source } = run(['x-access-token', ' tok123 '], '', both);
    expect(r).toBe(CONTINUE);
    expect(token).toBe('tok123');
    expect(source).toBe('custom-header');
    expect(reasonOf(run(['x-access-token', 'a b'], '', both).r)).toBe('malformed_token_header');
    expect(reasonOf(run(['x-access-token', 'a', 'x-access-token', 'a'], '', both).r)).toBe('multiple_credentials');
  });

  it('a token cookie after a comma, which Rack 2, Tomcat\'s legacy and Jetty\'s RFC 2965 parsers split on, is a second credential', () => {
    for (const c of ['theme=dark, at=other', 'theme=dark,at=other; x=1', 'a, at=other', 'theme=x,y, AT=other']) {
      expect(reasonOf(run(['authorization', 'Bearer a', 'cookie', c], '', both).r), c).toBe('multiple_credentials');
      expect(reasonOf(run(['cookie', `${c}; at=tok`], '', both).r), c).toBe('multiple_credentials');
    }
    // commas elsewhere in cookies are data: a date, a list, a name merely ending in the cookie's name
    expect(run(['cookie', 'seen=Wed, 21 Oct 2026; at=tok'], '', both).token).toBe('tok');
    expect(run(['cookie', 'ids=1,2,3; at=tok; flat=x,cat=y'], '', both).token).toBe('tok');
  });

  it('a cookie PHP reads as the token cookie (its name with . or a space for _, or an array of it) is a second credential', () => {
    const php = sourcesOf({ cookie: 'auth_token' });
    for (const c of ['auth.token=other', 'auth token=other', 'auth_token[x]=other', 'auth.token[]=other', 'x=1, auth.token=other']) {
      expect(reasonOf(run(['authorization', 'Bearer a', 'cookie', c], '', php).r), c).toBe('multiple_credentials');
      expect(reasonOf(run(['cookie', `${c}; auth_token=tok`], '', php).r), c).toBe('multiple_credentials');
    }
    expect(run(['cookie', 'auth.token.x=1; auth_tokens=2; auth_token=tok'], '', php).token).toBe('tok');
  });

  it('a token cookie PHP itself reads under another name (auth.token is $_COOKIE[\'auth_token\']): a cookie of that name is a second credential', () => {
    const dotted = sourcesOf({ cookie: 'auth.token' });
    for (const c of ['auth_token=other', 'auth token=other', 'auth.token[x]=other', 'x=1, auth_token=other']) {
      expect(reasonOf(run(['authorization', 'Bearer a', 'cookie', c], '', dotted).r), c).toBe('multiple_credentials');
      expect(reasonOf(run(['cookie', `${c}; auth.token=tok`], '', dotted).r), c).toBe('multiple_credentials');
    }
    expect(run(['cookie', 'auth_tokens=1; auth.token.x=2; auth.token=tok'], '', dotted).token).toBe('tok');
    // an array name is PHP's array: its other keys are other cookies
    expect(run(['cookie', 'auth[x]=1; auth[token]=tok'], '', sourcesOf({ cookie: 'auth[token]' })).token).toBe('tok');
  });

  it('reads the configured cookie, plain or quoted, among others', () => {
    expect(run(['cookie', 'theme=dark; at=tok.en; lang=en'], '', both).token).toBe('tok.en');
    expect(run(['cookie', 'at="q-tok"'], '', both).token).toBe('q-tok');
    expect(run(['cookie', 'x=1', 'cookie', 'at=tok'], '', both).source).toBe('cookie');
    // a cookie of another name that merely ends with "at" is not it
    expect(run(['cookie', 'flat=tok'], '', both).token).toBeNull();
    expect(run(['cookie', 'at='], '', both).token).toBeNull();
  });

  it('refuses two credentials: header + cookie, header + custom header, two cookies', () => {
    expect(reasonOf(run(['authorization', 'Bearer a', 'cookie', 'at=b'], '', both).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['cookie', 'at=b', 'authorization', 'Bearer a'], '', both).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['authorization', 'Bearer a', 'x-access-token', 'b'], '', both).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['x-access-token', 'b', 'authorization', 'Bearer a'], '', both).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['cookie', 'at=a; at=b'], '', both).r)).toBe('multiple_credentials');
    expect(reasonOf(run(['cookie', 'at=a', 'cookie', 'at=b'], '', both).r)).toBe('multiple_credentials');
  });

  it('ignores cookie and header sources the route does not configure', () => {
    const { token } = run(['cookie', 'at=tok', 'x-access-token', 'tok'], '');
    expect(token).toBeNull();
  });

  it('uses the cookie next to a Basic Authorization header', () => {
    expect(run(['authorization', 'Basic eA==', 'cookie', 'at=tok'], '', both).token).toBe('tok');
  });
});

describe('extract: properties', () => {
  const sources = sourcesOf({ header: 'x-tok', cookie: 'at', query: true });
  const headerName = fc.constantFrom('authorization', 'cookie', 'x-tok', 'host', 'x-other');
  const headerValue = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('Bearer ', 'bearer a', 'Basic x', 'at=1; at=2'));

  it('never throws on arbitrary headers and queries; a continue leaves a b64token or nothing', () => {
    fc.assert(fc.property(fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }), fc.string(), (pairs, query) => {
      for (const s of [BEARER_ONLY, sources]) {
        const ctx = ctxFor(R, { headers: pairs.flat(), query });
        const r = extract(ctx, s);
        if (r.kind === 'continue') {
          if (ctx.token !== null) expect(ctx.token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
          // the proof handed to the upstream client: the very value received, and one the head's own check accepts
          const checked = ctx.checkedAuthorization ?? null;
          if (checked !== null) {
            expect(pairs.some(([k, v]) => k === 'authorization' && v === checked)).toBe(true);
            expect(() => requestHead('GET', '/', ['authorization', checked], false, 0)).not.toThrow();
          }
        } else {
          expect(r.error.code).toBe('PORTCULLIS_ERR_AUTH_INVALID_REQUEST');
          expect(ctx.token).toBeNull();
        }
      }
    }), { numRuns: 2000 });
  });

  it('finds exactly the token of any well-formed Bearer header', () => {
    const b64token = fc.tuple(fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,40}$/), fc.stringMatching(/^={0,2}$/)).map(([a, b]) => a + b);
    fc.assert(fc.property(b64token, fc.integer({ min: 1, max: 3 }), fc.constantFrom('Bearer', 'bearer', 'BEARER'), (tok, spaces, scheme) => {
      const ctx = ctxFor(R, { headers: ['authorization', `${scheme}${' '.repeat(spaces)}${tok}`] });
      expect(extract(ctx)).toBe(CONTINUE);
      expect(ctx.token).toBe(tok);
    }));
  });
});

describe('extract: scheme names compared by char code', () => {
  it('takes a value as Bearer/DPoP exactly when its scheme lower-cases to bearer/dpop, refuses one run into a non-tchar', () => {
    const letters = fc.constantFrom(...'bBeEaArRdDpPoOkK@`[{:\u0130\u212a'.split(''));
    const scheme = (n: number) => fc.string({ unit: letters, minLength: n, maxLength: n });
    fc.assert(fc.property(fc.oneof(scheme(4), scheme(5), scheme(6), scheme(7), fc.string({ minLength: 4, maxLength: 7 }).filter((x) => !/[ \t]/.test(x))), (s) => {
      const ctx = ctxFor(R, { headers: ['authorization', `${s} tok`] });
      const r = extract(ctx);
      const lower = s.replace(/[^A-Za-z]/g, (c) => (c === '\u0130' || c === '\u212a' ? '?' : c)).toLowerCase();
      const exact = lower === 'bearer' || lower === 'dpop';
      const runInto = (p: string): boolean => lower.length > p.length && lower.startsWith(p) && !/[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[p.length]!);
      if (!exact && (runInto('bearer') || runInto('dpop'))) {
        expect(reasonOf(r), s).toMatch(/^malformed_authorization/);
      } else {
        expect(r, s).toBe(CONTINUE);
        expect(ctx.token).toBe(exact ? 'tok' : null);
      }
    }), { numRuns: 3000 });
  });
});

describe('extract: the Authorization value it proves clean for the upstream client', () => {
  it('is the received value for Bearer and DPoP, null for another scheme, another source or no credential', () => {
    const bearer = ` Bearer  ${JWT}\t`;
    const c1 = ctxFor(R, { headers: ['authorization', bearer] });
    expect(extract(c1)).toBe(CONTINUE);
    expect(c1.checkedAuthorization).toBe(bearer);
    const c2 = ctxFor(R, { headers: ['authorization', `DPoP ${JWT}`] });
    expect(extract(c2)).toBe(CONTINUE);
    expect(c2.checkedAuthorization).toBe(`DPoP ${JWT}`);
    for (const headers of [['authorization', 'Basic dTpw'], ['x-tok', JWT], []]) {
      const c = ctxFor(R, { headers });
      expect(extract(c, sourcesOf({ header: 'x-tok' }))).toBe(CONTINUE);
      expect(c.checkedAuthorization).toBeNull();
    }
  });
});
