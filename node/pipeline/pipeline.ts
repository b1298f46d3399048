// The request pipeline, in the order a request goes through it:
//   Max-Forwards 0 (OPTIONS/TRACE) → method override (?_method) → trusted X-Forwarded-Host → client certificate (routes with client_cert) → ready? → extract → gate → verify → afterVerify (revocation, DPoP) → authorize
//   → outbound token step (node/s2s) → forward (mutate, headers, path: forward.ts)
// The token stages run only on routes with a policy; the outbound step only on routes with one.
// Each stage answers synchronously when it can and with a promise only on a cache miss; run()
// below is the one place that bridges the two. A transport (the uWS listener, an HTTP/2
// listener) builds the RequestContext, implements PipelineSink and calls run().
import type { ProxyError } from '../errors.js';
import { proxyError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkClientCert, compileClientCertRule, type ClientCertRule } from './client-cert-rule.js';
import { CONTINUE, type RequestContext, type StageResult } from './context.js';
import { forwardRequest, type UpstreamRequest } from './forward.js';
import { checkForwardedHost } from './forwarded-host.js';
import { countsHops, hopCount, maxForwardsLines } from './max-forwards.js';
import { checkMethodOverride } from './method-override.js';
import type { Snapshot } from './snapshot.js';
import type { Pipeline, PipelineSink, Run, Stage } from './stage.js';
import { tracedForward, tracedStages } from './trace-stages.js';

export type { Pipeline, PipelineSink, Run, Stage } from './stage.js';

const NOT_READY: StageResult = Object.freeze({
  kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'signing keys not loaded yet', { retryAfter: 1 })), reason: 'not_ready',
});
const MAX_FORWARDS_ZERO = Object.freeze(proxyError('PORTCULLIS_ERR_MAX_FORWARDS_ZERO', 'Max-Forwards is 0: the request ends at this proxy, which does not answer OPTIONS or TRACE itself'));
const TOKEN_CHECK_FAILED = { error: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'token check failed', { retryAfter: 1 }), reason: null, log: 'authenticate failed' } as const;
const OUTBOUND_FAILED = { error: proxyError('PORTCULLIS_ERR_AUTH_UNAVAILABLE', 'could not obtain the outbound token', { retryAfter: 1 }), reason: 'outbound_token_failed', log: 'outbound token step failed' } as const;

/** Build the pipeline of one snapshot (one config version). */
export function createPipeline(snap: Snapshot, opts: { logger: Logger }): Pipeline {
  const auth = snap.auth;
  const tokenStages: Stage[] = [
    { name: 'ready', decides: true, failed: TOKEN_CHECK_FAILED, run: () => (auth.ready() ? CONTINUE : NOT_READY) },
    { name: 'extract', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => auth.extract(r.ctx) },
    { name: 'gate', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => auth.gate(r.ctx) },
    // verify never denies here: its outcome, whatever it is, goes through afterVerify (revocation, DPoP challenge)
    { name: 'verify', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => keepVerified(r, auth.verify(r.ctx)) },
    { name: 'afterVerify', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => auth.afterVerify(r.ctx, r.verified) },
    { name: 'authorize', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => allowed(r, auth.authorize(r.ctx)) },
  ];
  const outbound: Stage = {
    name: 'outbound', decides: false, failed: OUTBOUND_FAILED,
    run: (r) => {
      const step = snap.outbound[r.ctx.route.index];
      if (step == null) return CONTINUE;
      r.callerHeader = step.callerHeader;
      const a = step.authorization(r.ctx);
      // a revocation of any kind may have landed while the step waited (an exchange, a signature):
      // judged again before its token is used — the grant cache knows only `token` revocations
      return a instanceof Promise ? a.then((x) => { const v = auth.revocation(r.ctx); return v.kind === 'continue' ? outboundResult(r, x) : v; }) : outboundResult(r, a);
    },
  };
  // routes[].client_cert, by route index; checked first: both it and the token rules must pass
  const certRules: ReadonlyArray<ClientCertRule | null> = snap.config.routes.map((rt) => (rt.client_cert === undefined ? null : compileClientCertRule(rt.client_cert)));
  const clientCert: Stage = { name: 'clientCert', decides: true, failed: TOKEN_CHECK_FAILED, run: (r) => checkClientCert(certRules[r.ctx.route.index]!, r.ctx) };
  // certificate-only route (auth: none): the certificate is the whole auth decision
  const clientCertOnly: Stage = { ...clientCert, run: (r) => allowed(r, checkClientCert(certRules[r.ctx.route.index]!, r.ctx)) };
  // tracing off: these are the stages themselves and forwardRequest, no tracing step anywhere
  const traced = (snap.tracer ?? null) !== null;
  const wrap = (stages: Stage[]): readonly Stage[] => (traced ? tracedStages(stages) : stages);
  const withAuth = wrap([...tokenStages, outbound]);
  const withoutAuth = wrap([outbound]);
  const withCertAndAuth = wrap([clientCert, ...tokenStages, outbound]);
  const withCertOnly = wrap([clientCertOnly, outbound]);
  const forward = traced ? tracedForward : forwardRequest;
  const log = opts.logger;
  const trustForwarded = snap.config.server.trust_forwarded;

  /** Stages from `i` on, synchronously until one answers with a promise; then again from its result. The one sync/async bridge. */
  const resume = (r: Run, i: number, result: StageResult | null): void => {
    const stages = r.stages;
    for (;;) {
      if (result !== null) {
        if (result.kind === 'deny') {
          r.ctx.denyReason = result.reason;
          if (stages[i]!.decides) r.sink.decision(result.reason);
          r.sink.deny(result.error);
          return;
        }
        i++;
      }
      if (i === stages.length) break;
      const stage = stages[i]!;
      const x = stage.run(r);
      if (x instanceof Promise) {
        x.then((y) => { if (!r.sink.closed) resume(r, i, y); }, (err: unknown) => {
          log.error({ err: String(err), stage: stage.name }, stage.failed.log);
          if (r.sink.closed) return;
          if (stage.failed.reason !== null) r.ctx.denyReason = stage.failed.reason;
          r.sink.deny(stage.failed.error);
        });
        return;
      }
      result = x;
    }
    if (r.sink.allow !== undefined) r.sink.allow(r.authz);
    else r.sink.forward(forward(snap, r.ctx, r.authz, r.callerHeader));
  };

  return {
    run(ctx, sink): void {
      // OPTIONS/TRACE with Max-Forwards: 0: this proxy is the final recipient (RFC 9110 §7.6.2), nothing is
      // forwarded. A decision endpoint's edge forwards the request, not the proxy: its count is the edge's.
      if (countsHops(ctx.method) && sink.allow === undefined && hopCount(maxForwardsLines(ctx.headers)) === 0) {
        ctx.denyReason = 'max_forwards_zero';
        sink.deny(MAX_FORWARDS_ZERO);
        return;
      }
      // `?_method=` that would run another route's handler: refused before anything else (method-override.ts)
      if (ctx.query !== '') {
        const o = checkMethodOverride(snap.table, ctx);
        if (o.kind === 'deny') {
          ctx.denyReason = o.reason;
          sink.decision(o.reason);
          sink.deny(o.error);
          return;
        }
      }
      // a trusted X-Forwarded-Host reaches the upstream as sent: it must select this same route (forwarded-host.ts)
      if (trustForwarded) {
        const f = checkForwardedHost(snap.table, ctx);
        if (f.kind === 'deny') {
          ctx.denyReason = f.reason;
          sink.decision(f.reason);
          sink.deny(f.error);
          return;
        }
      }
      // auth: none and no outbound step: nothing can deny or wait, so no Run for the stage loop
      // (a decision sink answers instead of forwarding; tracing wraps the stages: both take the loop)
      const cert = certRules[ctx.route.index] ?? null;
      if (!traced && ctx.route.policy === null && cert === null && snap.outbound[ctx.route.index] == null && sink.allow === undefined) {
        sink.forward(forwardRequest(snap, ctx, null, null));
        return;
      }
      const stages = cert === null ? (ctx.route.policy !== null ? withAuth : withoutAuth) : ctx.route.policy !== null ? withCertAndAuth : withCertOnly;
      const r: Run = { ctx, sink, stages, authz: null, callerHeader: null, verified: CONTINUE };
      resume(r, 0, null);
    },
  };

  function allowed(r: Run, z: StageResult): StageResult {
    if (z.kind === 'continue') r.sink.decision(null);
    return z;
  }
}

function keepVerified(r: Run, v: StageResult | Promise<StageResult>): StageResult | Promise<StageResult> {
  if (v instanceof Promise) return v.then((x) => { r.verified = x; return CONTINUE; });
  r.verified = v;
  return CONTINUE;
}

function outboundResult(r: Run, a: string | (StageResult & { kind: 'deny' })): StageResult {
  if (typeof a !== 'string') return a; // not a token decision (the inbound token passed): reason for the access log only
  r.authz = a;
  return CONTINUE;
}
