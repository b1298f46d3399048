// Chunked transfer coding (RFC 9112 §7.1) for the response parser (h1-parser.ts): the byte-at-a-time
// machine for chunk-size lines, chunk extensions and trailers (chunk data itself is copied in
// bulk by the parser). Module-level functions on the parser's own fields: no object per response.
import { CR, LF, SP, HTAB, COLON, SEMI, EQ, DQUOTE, BSLASH, TCHAR, HEX, MAX_CHUNK_BEFORE_SHIFT, H_CONTENT_LENGTH, H_TRANSFER_ENCODING } from './h1-header-tokens.js';
import {
  P_CHUNK_SIZE, P_CHUNK_EXT_NAME_START, P_CHUNK_EXT_NAME, P_CHUNK_EXT_VALUE_START, P_CHUNK_EXT_TOKEN,
  P_CHUNK_EXT_QUOTED, P_CHUNK_EXT_QUOTED_PAIR, P_CHUNK_EXT_QUOTED_END, P_CHUNK_SIZE_LF, P_CHUNK_DATA,
  P_CHUNK_DATA_CR, P_CHUNK_DATA_LF, P_TRAILER_START, P_TRAILER_NAME, P_TRAILER_VALUE, P_TRAILER_LF, P_END_LF,
  P_DONE, P_ERROR,
} from './h1-parser-states.js';

/** The parser fields the framing machine reads and writes (H1Parser is one). */
export interface H1FramingState {
  state: number;
  error: string;
  readonly maxHeaderBytes: number;
  /** Chunk size being read, then bytes of chunk data left. */
  remaining: number;
  digits: number;
  lineBytes: number;
  /** Trailer name bytes matched so far against "content-length" / "transfer-encoding"; -1 = no match. */
  trailerCl: number;
  trailerTe: number;
}

/** Protocol error: same effect as H1Parser.fail, for a boolean-returning step. */
function bad(p: H1FramingState, reason: string): false {
  p.state = P_ERROR;
  p.error = reason;
  return false;
}

/** Count one more byte of a chunk-size line or trailer line against maxHeaderBytes. */
function lineByte(p: H1FramingState, what: string): boolean {
  if (++p.lineBytes > p.maxHeaderBytes) return bad(p, `${what} larger than maxHeaderBytes`);
  return true;
}

/**
 * One byte of chunked framing (everything but chunk data). Chunk extensions follow RFC 9112
 * §7.1.1 without BWS: `*( ";" token [ "=" ( token / quoted-string ) ] )` — llhttp refuses
 * whitespace there too, and a line two parsers read differently is a desync. Trailer field
 * lines are checked like header lines (token name, colon, no CTL in the value), counted and
 * dropped.
 */
export function chunkControl(p: H1FramingState, c: number): boolean {
  switch (p.state) {
    case P_CHUNK_SIZE: {
      const h = HEX[c]!;
      if (h >= 0) {
        // 1*HEXDIG: leading zeros are valid (RFC 9112 §7.1), so overflow is judged by value;
        // the digit count only bounds a line of endless zeros
        if (p.remaining > MAX_CHUNK_BEFORE_SHIFT) return bad(p, 'chunk size overflow');
        if (++p.digits > p.maxHeaderBytes) return bad(p, 'chunk size line larger than maxHeaderBytes');
        p.remaining = p.remaining * 16 + h;
        return true;
      }
      if (p.digits === 0) return bad(p, 'invalid chunk size');
      if (c === CR) { p.state = P_CHUNK_SIZE_LF; return true; }
      if (c === SEMI) { p.state = P_CHUNK_EXT_NAME_START; p.lineBytes = 0; return true; }
      return bad(p, 'invalid chunk size');
    }
    case P_CHUNK_EXT_NAME_START:
      // ";=v" or ";" then nothing: a name is a token, at least one tchar (llhttp takes ";=v")
      if (!TCHAR[c]) return bad(p, c === EQ || c === SEMI || c === CR ? 'empty chunk extension name' : 'invalid chunk extension');
      p.state = P_CHUNK_EXT_NAME;
      return lineByte(p, 'chunk extension');
    case P_CHUNK_EXT_NAME:
      if (TCHAR[c]) return lineByte(p, 'chunk extension');
      if (c === EQ) { p.state = P_CHUNK_EXT_VALUE_START; return lineByte(p, 'chunk extension'); }
      return chunkExtEnd(p, c);
    case P_CHUNK_EXT_VALUE_START:
      if (TCHAR[c]) { p.state = P_CHUNK_EXT_TOKEN; return lineByte(p, 'chunk extension'); }
      if (c === DQUOTE) { p.state = P_CHUNK_EXT_QUOTED; return lineByte(p, 'chunk extension'); }
      // "a=" then nothing: a token has at least one tchar (llhttp lets it pass)
      return bad(p, c === CR || c === SEMI ? 'empty chunk extension value' : 'invalid chunk extension');
    case P_CHUNK_EXT_TOKEN:
      if (TCHAR[c]) return lineByte(p, 'chunk extension');
      return chunkExtEnd(p, c);
    case P_CHUNK_EXT_QUOTED:
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (c === DQUOTE) { p.state = P_CHUNK_EXT_QUOTED_END; return lineByte(p, 'chunk extension'); }
      if (c === BSLASH) { p.state = P_CHUNK_EXT_QUOTED_PAIR; return lineByte(p, 'chunk extension'); }
      if ((c < SP && c !== HTAB) || c === 0x7f) return bad(p, 'invalid chunk extension');
      return lineByte(p, 'chunk extension');
    case P_CHUNK_EXT_QUOTED_PAIR:
      if ((c < SP && c !== HTAB) || c === 0x7f) return bad(p, 'invalid chunk extension');
      p.state = P_CHUNK_EXT_QUOTED;
      return lineByte(p, 'chunk extension');
    case P_CHUNK_EXT_QUOTED_END:
      return chunkExtEnd(p, c);
    case P_CHUNK_SIZE_LF:
      if (c !== LF) return bad(p, 'bare CR in chunk header');
      if (p.remaining === 0) {
        p.state = P_TRAILER_START;
        p.lineBytes = 0;
      } else {
        p.state = P_CHUNK_DATA;
      }
      return true;
    case P_CHUNK_DATA_CR:
      if (c !== CR) return bad(p, 'missing CRLF after chunk data');
      p.state = P_CHUNK_DATA_LF;
      return true;
    case P_CHUNK_DATA_LF:
      if (c !== LF) return bad(p, 'missing CRLF after chunk data');
      p.state = P_CHUNK_SIZE;
      p.digits = 0;
      return true;
    case P_TRAILER_START:
      if (c === CR) { p.state = P_END_LF; return true; }
      if (c === SP || c === HTAB) return bad(p, 'obsolete line folding in trailers');
      if (!TCHAR[c]) return bad(p, 'invalid trailer field name');
      p.state = P_TRAILER_NAME;
      p.trailerCl = 0;
      p.trailerTe = 0;
      trailerNameByte(p, c);
      return lineByte(p, 'trailers');
    case P_TRAILER_NAME:
      if (c === COLON) {
        // framing fields are never allowed as trailers (RFC 9110 §6.5.1); llhttp refuses them too
        if (p.trailerCl === H_CONTENT_LENGTH.length) return bad(p, 'content-length in trailers');
        if (p.trailerTe === H_TRANSFER_ENCODING.length) return bad(p, 'transfer-encoding in trailers');
        p.state = P_TRAILER_VALUE;
        return lineByte(p, 'trailers');
      }
      if (!TCHAR[c]) return bad(p, 'invalid trailer field name');
      trailerNameByte(p, c);
      return lineByte(p, 'trailers');
    case P_TRAILER_VALUE:
      if (c === CR) { p.state = P_TRAILER_LF; return true; }
      if ((c < SP && c !== HTAB) || c === 0x7f) return bad(p, 'invalid byte in trailers');
      return lineByte(p, 'trailers');
    case P_TRAILER_LF:
      if (c !== LF) return bad(p, 'bare CR in trailers');
      p.state = P_TRAILER_START;
      return true;
    case P_END_LF:
      if (c !== LF) return bad(p, 'bare CR after last chunk');
      p.state = P_DONE;
      return true;
    default:
      return bad(p, 'parser in an unexpected state');
  }
}

/** Advance the trailer-name matchers by one (token) byte. */
function trailerNameByte(p: H1FramingState, c: number): void {
  const l = c | 0x20; // token bytes: letters lower-cased, '-' and digits unchanged
  const cl = p.trailerCl, te = p.trailerTe;
  p.trailerCl = cl >= 0 && cl < H_CONTENT_LENGTH.length && H_CONTENT_LENGTH.charCodeAt(cl) === l ? cl + 1 : -1;
  p.trailerTe = te >= 0 && te < H_TRANSFER_ENCODING.length && H_TRANSFER_ENCODING.charCodeAt(te) === l ? te + 1 : -1;
}

/** After a complete chunk-ext name or value: another extension, or the end of the line. */
function chunkExtEnd(p: H1FramingState, c: number): boolean {
  if (c === SEMI) { p.state = P_CHUNK_EXT_NAME_START; return lineByte(p, 'chunk extension'); }
  if (c === CR) { p.state = P_CHUNK_SIZE_LF; return true; }
  return bad(p, 'invalid chunk extension');
}
