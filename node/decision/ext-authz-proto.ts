// The protobuf wire format of Envoy's ext_authz Check (envoy.service.auth.v3), by hand so the
// proxy needs no gRPC library: a decoder for the CheckRequest fields Portcullis reads and an
// encoder for CheckResponse. Field numbers from Envoy's documented API (external_auth.proto,
// attribute_context.proto, config/core/v3 base.proto + address.proto, type/v3 http_status.proto,
// google/rpc/status.proto, google/protobuf/struct.proto + wrappers.proto).

/** The parts of a CheckRequest (attributes.request.http, attributes.source, context_extensions). */
export interface CheckRequest {
  readonly method: string;
  /** Request target as Envoy saw it: path and query. */
  readonly path: string;
  /** :authority. */
  readonly host: string;
  readonly scheme: string;
  /** HTTP/1.0, HTTP/1.1, HTTP/2, HTTP/3. */
  readonly protocol: string;
  /**
   * Flat [name, value…] in message order, from the `headers` map (Envoy: lower-case names, repeated
   * values joined by ',') or `header_map` (encode_raw_headers: one entry per field, raw bytes as latin1).
   */
  readonly headers: string[];
  /** attributes.source.address.socket_address.address ('' when absent). */
  readonly sourceAddress: string;
  readonly contextExtensions: ReadonlyMap<string, string>;
}

/** A malformed message: the Check answers gRPC INVALID_ARGUMENT with this text. */
export class ProtoError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A cursor over one message's bytes. */
class Reader {
  pos: number;
  constructor(private readonly buf: Uint8Array, start: number, readonly end: number) { this.pos = start; }

  get done(): boolean { return this.pos >= this.end; }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++]!;
      // past 2^53 precision is lost; only lengths, tags and small enums are read as numbers
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new ProtoError('varint longer than 10 bytes');
  }

  /** A length-delimited field: a sub-reader over its bytes. */
  sub(): Reader {
    const len = this.varint();
    if (len > this.end - this.pos) throw new ProtoError('length-delimited field runs past its message');
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  string(): string {
    const r = this.sub();
    try { return utf8.decode(this.buf.subarray(r.pos, r.end)); } catch { throw new ProtoError('string field is not UTF-8'); }
  }

  /** A bytes field as latin1 (one char per byte: bytes past ASCII stay visible to the header checks). */
  latin1(): string {
    const r = this.sub();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + r.pos, r.end - r.pos).toString('latin1');
  }

  /** Skip a field of `wire` type (groups are refused: proto3 never sends them). */
  skip(wire: number): void {
    switch (wire) {
      case 0: this.varint(); return;
      case 1: this.advance(8); return;
      case 2: this.sub(); return;
      case 5: this.advance(4); return;
      default: throw new ProtoError(`unsupported wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new ProtoError('truncated fixed-width field');
    this.pos += n;
  }

  /** Next tag as [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) throw new ProtoError('field number 0');
    return [field, t & 7];
  }
}

/** Read the fields of one message, calling `on` for each; `on` returns false to skip it. */
function fields(r: Reader, on: (field: number, wire: number, r: Reader) => boolean): void {
  while (!r.done) {
    const [f, w] = r.tag();
    if (!on(f, w, r)) r.skip(w);
  }
}

/** A map<string,string> entry (key = 1, value = 2). */
function mapEntry(r: Reader): [string, string] {
  let k = '';
  let v = '';
  fields(r, (f, w, e) => {
    if (w !== 2) return false;
    if (f === 1) { k = e.string(); return true; }
    if (f === 2) { v = e.string(); return true; }
    return false;
  });
  return [k, v];
}

/**
 * Decode a CheckRequest. Unknown fields are skipped (Envoy adds fields over time); a malformed
 * message throws ProtoError. A length-delimited field of the wrong wire type is malformed.
 */
export function decodeCheckRequest(buf: Uint8Array): CheckRequest {
  const out = { method: '', path: '', host: '', scheme: '', protocol: '', headers: [] as string[], sourceAddress: '', contextExtensions: new Map<string, string>() };
  const want = (w: number, f: string): void => { if (w !== 2) throw new ProtoError(`${f} has wire type ${w}, not length-delimited`); };
  fields(new Reader(buf, 0, buf.length), (f, w, r) => {
    if (f !== 1) return false; // CheckRequest.attributes = 1
    want(w, 'attributes');
    fields(r.sub(), (af, aw, a) => {
      switch (af) {
        case 1: // AttributeContext.source (Peer)
          want(aw, 'source');
          out.sourceAddress = peerAddress(a.sub());
          return true;
        case 4: // AttributeContext.request (Request) → http = 2 (HttpRequest)
          want(aw, 'request');
          fields(a.sub(), (rf, rw, q) => {
            if (rf !== 2) return false;
            want(rw, 'request.http');
            let forms = 0; // 1: headers map, 2: header_map (encode_raw_headers); Envoy sends one
            fields(q.sub(), (hf, hw, h) => {
              if (hw === 2 && (hf === 3 || hf === 13)) forms |= hf === 3 ? 1 : 2;
              return httpField(out, hf, hw, h);
            });
            if (forms === 3) throw new ProtoError('request.http has both headers and header_map');
            return true;
          });
          return true;
        case 10: { // context_extensions map<string,string>
          want(aw, 'context_extensions');
          const [k, v] = mapEntry(a.sub());
          out.contextExtensions.set(k, v);
          return true;
        }
        default: return false;
      }
    });
    return true;
  });
  return out;
}

/** Peer.address = 1 → Address.socket_address = 1 → SocketAddress.address = 2; '' when absent. */
function peerAddress(peer: Reader): string {
  let address = '';
  const inner = (field: number, next: (r: Reader) => void) => (f: number, w: number, r: Reader): boolean => {
    if (f !== field || w !== 2) return false;
    next(r.sub());
    return true;
  };
  fields(peer, inner(1, (addr) => fields(addr, inner(1, (sock) => fields(sock, (f, w, r) => {
    if (f !== 2 || w !== 2) return false;
    address = r.string();
    return true;
  })))));
  return address;
}

/**
 * config.core.v3.HeaderMap (headers = 1, HeaderValue: key 1, value 2, raw_value 3) onto the flat
 * list: Envoy's `encode_raw_headers` fills key and raw_value, one entry per field (names not joined).
 */
function headerMap(r: Reader, out: string[]): void {
  fields(r, (f, w, e) => {
    if (f !== 1 || w !== 2) return false;
    let k = '';
    let v: string | null = null;
    let raw: string | null = null;
    fields(e.sub(), (hf, hw, h) => {
      if (hw !== 2) return false;
      if (hf === 1) { k = h.string(); return true; }
      if (hf === 2) { v = h.string(); return true; }
      if (hf === 3) { raw = h.latin1(); return true; }
      return false;
    });
    out.push(k, raw ?? v ?? '');
    return true;
  });
}

/** One HttpRequest field: id 1, method 2, headers 3, path 4, host 5, scheme 6, protocol 10, header_map 13. */
function httpField(out: { method: string; path: string; host: string; scheme: string; protocol: string; headers: string[] }, f: number, w: number, r: Reader): boolean {
  if (w !== 2) return false;
  switch (f) {
    case 2: out.method = r.string(); return true;
    case 3: { const [k, v] = mapEntry(r.sub()); out.headers.push(k, v); return true; }
    case 4: out.path = r.string(); return true;
    case 5: out.host = r.string(); return true;
    case 6: out.scheme = r.string(); return true;
    case 10: out.protocol = r.string(); return true;
    case 13: headerMap(r.sub(), out.headers); return true;
    default: return false;
  }
}

// ---- encoding ---------------------------------------------------------------------------

/** Appends protobuf fields to a growing list of chunks. */
class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  get length(): number { return this.size; }

  private push(b: Uint8Array): void { this.parts.push(b); this.size += b.length; }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v >= 0x80) { bytes.push((v % 128) | 0x80); v = Math.floor(v / 128); }
    bytes.push(v);
    this.push(Uint8Array.from(bytes));
  }

  /** int32 / enum / bool field (non-negative values only: the codes written here are). */
  uint(field: number, v: number): this {
    if (v === 0) return this; // proto3 default: omitted
    this.varint(field * 8);
    this.varint(v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this { return this.bytes(field, Buffer.from(s, 'utf8')); }

  message(field: number, m: Writer): this { return this.bytes(field, m.finish()); }

  finish(): Buffer { return Buffer.concat(this.parts, this.size); }
}

/** A google.protobuf.Value: strings, string lists and nested structs are all the principal needs. */
export type StructValue = string | readonly string[] | { readonly [k: string]: StructValue };

function value(v: StructValue): Writer {
  const w = new Writer();
  if (typeof v === 'string') return w.string(3, v); // string_value = 3
  if (Array.isArray(v)) {
    const list = new Writer();
    for (const s of v as readonly string[]) list.message(1, value(s)); // ListValue.values = 1
    return w.message(6, list); // list_value = 6
  }
  return w.message(5, struct(v as { readonly [k: string]: StructValue })); // struct_value = 5
}

function struct(o: { readonly [k: string]: StructValue }): Writer {
  const w = new Writer();
  // Struct.fields = 1, map<string, Value> entries: key = 1, value = 2
  for (const [k, v] of Object.entries(o)) w.message(1, new Writer().string(1, k).message(2, value(v)));
  return w;
}

/** A char U+0080–U+00FF: header values hold bytes one char each (identity values are their UTF-8 bytes, node/pipeline/mutate). */
const NON_ASCII = /[\u0080-\u00ff]/;

/**
 * HeaderValueOption{header: HeaderValue{key = 1, value = 2} = 1, append: BoolValue = 2}; append false = overwrite.
 * The value goes as its bytes: encoding its latin1 chars as UTF-8 again sent `José` as `JosÃ©`.
 */
function headerOption(key: string, val: string): Writer {
  const header = new Writer().string(1, key);
  if (NON_ASCII.test(val)) header.bytes(2, Buffer.from(val, 'latin1')); else header.string(2, val);
  return new Writer().message(1, header).message(2, new Writer());
}

export type CheckResponse =
  | { readonly kind: 'ok'; readonly headers: readonly string[]; readonly remove: readonly string[]; readonly responseHeaders: readonly string[]; readonly metadata: { readonly [k: string]: StructValue } | null }
  | { readonly kind: 'denied'; readonly code: number; readonly message: string; readonly httpStatus: number; readonly headers: readonly string[]; readonly body: string };

/**
 * Encode a CheckResponse: status (google.rpc.Status{code = 1, message = 2}) = 1, denied_response = 2
 * (status: HttpStatus{code = 1} = 1, headers = 2, body = 3), ok_response = 3 (headers = 2,
 * headers_to_remove = 5, response_headers_to_add = 6), dynamic_metadata (Struct) = 4. `headers` are flat [name, value…].
 */
export function encodeCheckResponse(r: CheckResponse): Buffer {
  const w = new Writer();
  if (r.kind === 'ok') {
    w.message(1, new Writer()); // status OK: code 0 is the default
    const ok = new Writer();
    for (let i = 0; i < r.headers.length; i += 2) ok.message(2, headerOption(r.headers[i]!, r.headers[i + 1]!));
    for (const name of r.remove) ok.string(5, name);
    for (let i = 0; i < r.responseHeaders.length; i += 2) ok.message(6, headerOption(r.responseHeaders[i]!, r.responseHeaders[i + 1]!));
    w.message(3, ok);
    if (r.metadata !== null) w.message(4, struct(r.metadata));
    return w.finish();
  }
  w.message(1, new Writer().uint(1, r.code).string(2, r.message));
  const denied = new Writer().message(1, new Writer().uint(1, r.httpStatus));
  for (let i = 0; i < r.headers.length; i += 2) denied.message(2, headerOption(r.headers[i]!, r.headers[i + 1]!));
  if (r.body !== '') denied.string(3, r.body);
  w.message(2, denied);
  return w.finish();
}

/** gRPC length-prefixed message framing: 0 (uncompressed), 4-byte big-endian length, the message. */
export function grpcFrame(msg: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = 0;
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}
