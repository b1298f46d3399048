// Header maps built for node:http2 and the WebSocket client: a field named `__proto__` is a field
// like any other. On a plain object its assignment replaced the map's prototype instead, the field
// vanished and later fields named `0`, `1` or `length` picked up inherited values.
import { describe, expect, it } from 'vitest';
import { responseHeaders } from '../../../node/http2/h2-response-headers.js';
import { h2RequestHeaders } from '../../../node/upstream/h2-call.js';

describe('header maps for HTTP/2', () => {
  it('an upstream response field named __proto__ is relayed as a field, and `0`/`length` keep only their own values', () => {
    const out = responseHeaders(['__proto__', 'a', '__proto__', 'b', '0', 'zero', 'length', 'ten', 'content-type', 'text/plain'], null, false);
    expect(Object.getPrototypeOf(out)).toBeNull();
    expect(Object.keys(out).sort()).toEqual(['0', '__proto__', 'content-type', 'length']);
    expect(out['__proto__']).toEqual(['a', 'b']);
    expect(out['0']).toBe('zero');
    expect(out['length']).toBe('ten');
  });

  it('a client request field named __proto__ reaches an HTTP/2 upstream as a field', () => {
    const out = h2RequestHeaders({ method: 'GET', path: '/x', headers: ['host', 'a.example', '__proto__', 'p', '__proto__', 'q', '1', 'one'], body: null, contentLength: 0 }, 'http', 'up.example');
    expect(Object.getPrototypeOf(out)).toBeNull();
    expect(out['__proto__']).toEqual(['p', 'q']);
    expect(out['1']).toBe('one');
    expect(out[':authority']).toBe('a.example');
  });
});
