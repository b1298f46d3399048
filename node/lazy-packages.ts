// CommonJS packages only some configs use (undici for JWKS, introspection, token endpoints, OTLP;
// ws for WebSocket routes), required on first use: a start that needs neither loads neither.
import { createRequire } from 'node:module';
import type * as UndiciModule from 'undici';
import type WsModule from 'ws';

const require = createRequire(import.meta.url);
let undiciModule: typeof UndiciModule | undefined;
let undiciParts: UndiciParts | undefined;
let wsModule: typeof WsModule | undefined;

/** What Portcullis calls: Agent, Pool and request (with a dispatcher). */
export interface UndiciParts {
  readonly Agent: typeof UndiciModule.Agent;
  readonly Pool: typeof UndiciModule.Pool;
  readonly request: typeof UndiciModule.request;
}

/** The whole undici package (≈ 110 files, the slowest package to load: ~0.24 s of CPU). */
function undiciWhole(): typeof UndiciModule {
  return undiciModule ??= require('undici') as typeof UndiciModule;
}

type RequestOptions = Parameters<typeof UndiciModule.request>[1];
type DispatcherRequest = (this: UndiciModule.Dispatcher, opts: Record<string, unknown>) => ReturnType<typeof UndiciModule.request>;

/**
 * undici's Agent, Pool and request, loaded by the first call from their own files (~40 of them,
 * ~0.08 s of CPU): the package's index also loads fetch, WebSocket, the cache, mocks and proxy
 * agents, which nothing here uses. A request with a `dispatcher` (every one Portcullis makes on
 * its own agents) runs undici's request on it as the index's `request` does; one without falls back
 * to the whole package (its global dispatcher).
 */
export function undici(): UndiciParts {
  if (undiciParts !== undefined) return undiciParts;
  const apiRequest = require('undici/lib/api/api-request.js') as DispatcherRequest;
  const request = ((url: string | URL, opts: RequestOptions) => {
    const dispatcher = (opts as { dispatcher?: UndiciModule.Dispatcher } | undefined)?.dispatcher;
    if (dispatcher === undefined || (typeof url !== 'string' && !(url instanceof URL))) return undiciWhole().request(url, opts);
    const u = url instanceof URL ? url : new URL(url);
    const o = opts as Record<string, unknown>;
    return apiRequest.call(dispatcher, { ...o, origin: u.origin, path: u.pathname + u.search, method: o.method ?? (o.body !== undefined && o.body !== null ? 'PUT' : 'GET') });
  }) as typeof UndiciModule.request;
  undiciParts = {
    Agent: (require('undici/lib/dispatcher/agent.js') as typeof UndiciModule.Agent),
    Pool: (require('undici/lib/dispatcher/pool.js') as typeof UndiciModule.Pool),
    request,
  };
  return undiciParts;
}

/** The ws client's WebSocket class, loaded by the first call (the first proxied WebSocket). */
export function wsClient(): typeof WsModule {
  return wsModule ??= require('ws') as typeof WsModule;
}
