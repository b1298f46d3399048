// CommonJS packages only some configs use (undici for JWKS, introspection, token endpoints, OTLP;
// ws for WebSocket routes), required on first use: a start that needs neither loads neither.
import { createRequire } from 'node:module';
import type * as UndiciModule from 'undici';
import type WsModule from 'ws';

const require = createRequire(import.meta.url);
let undiciModule: typeof UndiciModule | undefined;
let wsModule: typeof WsModule | undefined;

/** undici (≈ 110 files, the slowest package to load), loaded by the first call. */
export function undici(): typeof UndiciModule {
  return undiciModule ??= require('undici') as typeof UndiciModule;
}

/** The ws client's WebSocket class, loaded by the first call (the first proxied WebSocket). */
export function wsClient(): typeof WsModule {
  return wsModule ??= require('ws') as typeof WsModule;
}
