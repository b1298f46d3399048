// A real OTLP/HTTP trace receiver on port 0 for tests: decodes the JSON export requests
// (ExportTraceServiceRequest) the proxy sends and keeps every span with its resource.
// `mode` scripts it: 'ok' answers 200, 'fail' answers 503, 'hang' never answers, 'drip' sends a
// 200 head then one body byte every 50 ms and never ends (every idle timer stays happy).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status: { code: number; message?: string };
  /** service.name of the resource it came in. */
  service: string;
}

export interface OtlpCollector {
  url: string;
  spans: OtlpSpan[];
  /** Export requests received (decoded or not). */
  requests: number;
  /** Requests that were not valid OTLP JSON. */
  malformed: number;
  mode: 'ok' | 'fail' | 'hang' | 'drip';
  /** Headers of the last export request. */
  lastHeaders: Record<string, string | string[] | undefined>;
  close(): Promise<void>;
}

/** One attribute's value as a plain JS value (strings, ints as numbers, bools, doubles). */
export function attr(s: OtlpSpan, key: string): unknown {
  const a = s.attributes.find((x) => x.key === key);
  if (a === undefined) return undefined;
  const v = a.value;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('boolValue' in v) return v.boolValue;
  return v.doubleValue;
}

export async function startOtlpCollector(mode: OtlpCollector['mode'] = 'ok'): Promise<OtlpCollector> {
  const hanging: ServerResponse[] = [];
  const c: OtlpCollector = { url: '', spans: [], requests: 0, malformed: 0, mode, lastHeaders: {}, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.requests++;
      c.lastHeaders = req.headers;
      if (c.mode === 'hang') { hanging.push(res); return; }
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) throw new Error('not an OTLP JSON export');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue as string;
          for (const ss of rs.scopeSpans) for (const s of ss.spans) c.spans.push({ ...s, service });
        }
      } catch {
        c.malformed++;
        res.writeHead(400).end();
        return;
      }
      if (c.mode === 'fail') { res.writeHead(503).end(); return; }
      if (c.mode === 'drip') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const t = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(t));
        hanging.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  c.close = () => new Promise<void>((resolve) => { for (const r of hanging) r.destroy(); server.close(() => resolve()); server.closeAllConnections(); });
  return c;
}
