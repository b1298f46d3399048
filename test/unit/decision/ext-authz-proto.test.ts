// The hand-written ext_authz codec against protobufjs reading the .proto written from Envoy's
// documented API (test/fixtures/ext-authz/external_auth.proto): what protobufjs encodes we
// decode, what we encode protobufjs decodes; random bytes only ever fail as ProtoError. Plus the
// config rule that the gRPC Check needs the HTTP/2 listener.
import { join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../node/config/index.js';
import { decodeCheckRequest, encodeCheckResponse, ProtoError } from '../../../node/decision/index.js';
import { ROOT } from '../../helpers/proxy-process.js';

const root = new protobuf.Root().loadSync(join(ROOT, 'test', 'fixtures', 'ext-authz', 'external_auth.proto'), { keepCase: true });
const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse');

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);

describe('ext_authz CheckRequest decoding', () => {
  it('reads what protobufjs encodes, unknown fields (destination, id, size) skipped', () => {
    fc.assert(fc.property(
      fc.record({ method: fc.constantFrom('GET', 'POST', 'DELETE'), path: fc.string(), host: fc.string(), scheme: fc.constantFrom('http', 'https'), protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2'), src: fc.ipV4() }),
      fc.dictionary(token, fc.string(), { maxKeys: 8 }),
      fc.dictionary(token, fc.string(), { maxKeys: 3 }),
      (h, headers, ext) => {
        const msg = CheckRequest.encode(CheckRequest.fromObject({
          attributes: {
            source: { address: { socket_address: { address: h.src, port_value: 4242 } }, principal: 'spiffe://x' },
            destination: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } },
            request: { http: { id: '77', method: h.method, path: h.path, host: h.host, scheme: h.scheme, protocol: h.protocol, size: 12, headers } },
            context_extensions: ext,
          },
        })).finish();
        const d = decodeCheckRequest(msg);
        expect(d).toMatchObject({ method: h.method, path: h.path, host: h.host, scheme: h.scheme, protocol: h.protocol, sourceAddress: h.src });
        const got: Record<string, string> = {};
        for (let i = 0; i < d.headers.length; i += 2) got[d.headers[i]!] = d.headers[i + 1]!;
        expect(got).toEqual(headers);
        expect(Object.fromEntries(d.contextExtensions)).toEqual(ext);
      },
    ), { numRuns: 200 });
  });

  it('random bytes are decoded or refused with ProtoError, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try { decodeCheckRequest(b); } catch (e) { expect(e).toBeInstanceOf(ProtoError); }
    }), { numRuns: 2000 });
  });

  it('a length past the end, a group, a non-UTF-8 string are refused', () => {
    expect(() => decodeCheckRequest(Uint8Array.from([0x0a, 0x05, 0x22]))).toThrow(ProtoError);
    expect(() => decodeCheckRequest(Uint8Array.from([0x0b]))).toThrow(/wire type 3/);
    expect(() => decodeCheckRequest(Uint8Array.from([0x0a, 0x07, 0x22, 0x05, 0x12, 0x03, 0x12, 0x01, 0xc3]))).toThrow(/UTF-8/);
  });
});

describe('ext_authz CheckResponse encoding', () => {
  it('OK: headers with append false, headers_to_remove, response headers, the principal as a Struct', () => {
    const bytes = encodeCheckResponse({ kind: 'ok', headers: ['x-auth-subject', 'alice', 'authorization', 'Bearer i.n.t'], remove: ['x-auth-email'], responseHeaders: ['dpop-nonce', 'n1'], metadata: { sub: 'alice', scopes: ['a', 'b'], route: 'orders' } });
    const r = CheckResponse.toObject(CheckResponse.decode(bytes), { defaults: false, oneofs: true }) as any;
    expect(r.http_response).toBe('ok_response');
    expect(r.status).toEqual({});
    expect(r.ok_response.headers).toEqual([
      { header: { key: 'x-auth-subject', value: 'alice' }, append: {} },
      { header: { key: 'authorization', value: 'Bearer i.n.t' }, append: {} },
    ]);
    expect(r.ok_response.headers_to_remove).toEqual(['x-auth-email']);
    expect(r.ok_response.response_headers_to_add).toEqual([{ header: { key: 'dpop-nonce', value: 'n1' }, append: {} }]);
    expect(r.dynamic_metadata.fields.sub).toMatchObject({ string_value: 'alice' });
    expect(r.dynamic_metadata.fields.scopes.list_value.values.map((v: any) => v.string_value)).toEqual(['a', 'b']);
    expect(r.dynamic_metadata.fields.route).toMatchObject({ string_value: 'orders' });
  });

  it('denied: the gRPC code and message, the HTTP status, headers and body', () => {
    const bytes = encodeCheckResponse({ kind: 'denied', code: 16, message: 'no token', httpStatus: 401, headers: ['www-authenticate', 'Bearer realm="p"'], body: '{"error":"invalid_token"}' });
    const r = CheckResponse.toObject(CheckResponse.decode(bytes), { defaults: false, oneofs: true }) as any;
    expect(r.status).toEqual({ code: 16, message: 'no token' });
    expect(r.denied_response).toEqual({ status: { code: 401 }, headers: [{ header: { key: 'www-authenticate', value: 'Bearer realm="p"' }, append: {} }], body: '{"error":"invalid_token"}' });
  });
});

describe('config: server.decision.grpc', () => {
  const cfg = (server: Record<string, unknown>): Record<string, unknown> => ({
    server, upstreams: { app: { targets: ['http://127.0.0.1:3001'] } }, routes: [{ name: 'a', match: { path: '/*' }, upstream: 'app', auth: 'none' }],
  });
  it('is off by default and needs server.http2', () => {
    const off = validateConfig(cfg({}));
    expect(off.ok && off.config.server.decision.grpc).toBe(false);
    const bad = validateConfig(cfg({ decision: { grpc: true } }));
    expect(bad.ok ? [] : bad.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([expect.stringMatching(/^server\.decision\.grpc: needs server\.http2/)]);
    expect(validateConfig(cfg({ decision: { grpc: true }, http2: { listen: { host: '127.0.0.1', port: 0 } } })).ok).toBe(true);
  });
});
