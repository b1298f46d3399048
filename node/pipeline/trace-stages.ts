// The pipeline's tracing hooks, used only when `tracing.enabled` (createPipeline picks these
// wrappers once per snapshot; with tracing off the stages run unwrapped): a span per stage of a
// sampled request, and the W3C trace headers of the upstream request.
import { inlineChecks, SPAN_KIND, type Attrs } from '../tracing/index.js';
import { looksLikeJws } from './authenticate.js';
import type { RequestContext, StageResult } from './context.js';
import { forwardRequest, type UpstreamRequest } from './forward.js';
import type { Run, Stage } from './stage.js';
import type { Snapshot } from './snapshot.js';

/** Span name per traced stage; the others (ready, gate: a flag read each) get none. */
const SPAN_OF: Readonly<Record<string, string>> = {
  clientCert: 'client certificate', extract: 'extract', verify: 'authenticate', afterVerify: 'revocation check', authorize: 'authorize', outbound: 'outbound token',
};

const NO_ATTRS: Attrs = [];

/** `stages` with a span around each traced one, for sampled requests only. */
export function tracedStages(stages: readonly Stage[]): Stage[] {
  return stages.map((s) => {
    const name = SPAN_OF[s.name];
    if (name === undefined) return s;
    const inner = s.run;
    return {
      ...s,
      run(r: Run): StageResult | Promise<StageResult> {
        const t = r.ctx.trace;
        if (t == null || !t.sampled) return inner(r);
        const t0 = performance.now();
        const checks = inlineChecks.count;
        const x = inner(r);
        if (x instanceof Promise) return x.then((y) => { end(r, s.name, name, t0, false, y, false); return y; });
        end(r, s.name, name, t0, true, x, inlineChecks.count !== checks);
        return x;
      },
    };
  });
}

/** `inline`: a signature was checked on the event loop during this (synchronous) stage: a miss, not a cache hit. */
function end(r: Run, stage: string, name: string, t0: number, sync: boolean, x: StageResult, inline: boolean): void {
  const t = r.ctx.trace!;
  const t1 = performance.now();
  if (stage !== 'verify') {
    t.stage(name, SPAN_KIND.internal, t0, t1, NO_ATTRS, x.kind === 'deny' ? x.reason : null);
    return;
  }
  // verify always continues: its verdict is r.verified (judged by afterVerify)
  const v = r.verified;
  const token = r.ctx.token;
  const kind = token === null ? 'none' : looksLikeJws(token) ? 'jwt' : 'opaque';
  const attrs: Attrs = [['portcullis.token.kind', kind]];
  // a synchronous success came from a cache unless a signature was checked inline (verifier.mode);
  // a synchronous refusal may be a cached one or a token refused before any lookup (malformed,
  // wrong issuer): no cache attribute then
  if (!sync || inline) attrs.push(['portcullis.token.cache', 'miss']);
  else if (v.kind === 'continue') attrs.push(['portcullis.token.cache', 'hit']);
  const id = t.stage(name, SPAN_KIND.internal, t0, t1, attrs, v.kind === 'deny' ? v.reason : null);
  if (inline && id !== null) t.stage('verifier inline', SPAN_KIND.internal, t0, t1, NO_ATTRS, null, id);
  // a miss waited for the verifier pool (JWT) or for the authorization server (introspection, or
  // another request's call for the same token: single-flight)
  if (!sync && id !== null) {
    if (kind === 'jwt') t.stage('verifier pool', SPAN_KIND.internal, t0, t1, NO_ATTRS, null, id);
    else t.stage('introspection', SPAN_KIND.client, t0, t1, NO_ATTRS, v.kind === 'deny' ? v.reason : null, id);
  }
}

/**
 * forwardRequest, then the trace headers: the client's traceparent/tracestate removed (a
 * malformed one is never forwarded as is) and ours added — the request's trace, a new span id
 * for the upstream call, the client's tracestate when it was valid.
 */
export function tracedForward(snap: Snapshot, ctx: RequestContext, authz: string | null, callerHeader: string | null): UpstreamRequest {
  const req = forwardRequest(snap, ctx, authz, callerHeader);
  const t = ctx.trace;
  if (t == null) return req;
  const h = req.headers;
  const out: string[] = [];
  let hostIdx = req.hostIdx;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    if (k === 'traceparent' || k === 'tracestate') { if (i < hostIdx) hostIdx -= 2; continue; }
    out.push(k, h[i + 1]!);
  }
  out.push('traceparent', t.upstreamTraceparent());
  if (t.traceState !== null) out.push('tracestate', t.traceState);
  return { upstream: req.upstream, path: req.path, headers: out, hostIdx };
}
