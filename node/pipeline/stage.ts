// The pipeline's contracts: what a transport implements (PipelineSink), what it calls
// (Pipeline), and one request's pass through the stages (Run, Stage). Apart from pipeline.ts so
// that the stage decorators (trace-stages.ts) need not import the pipeline that uses them.
import type { ProxyError } from '../errors.js';
import type { RequestContext, StageResult } from './context.js';
import type { UpstreamRequest } from './forward.js';

/** What the pipeline needs from the transport that carries the request. */
export interface PipelineSink {
  /** True once the transport answered or the client left: a stage that completes later stops there. */
  readonly closed: boolean;
  /** An auth decision for metrics: null = allowed, else the denial's reason (also set as ctx.denyReason). */
  decision(reason: string | null): void;
  /** Answer with `error`; nothing is forwarded. ctx.denyReason says why when a stage refused. */
  deny(error: ProxyError): void;
  /** Send `req` upstream (an HTTP relay, or node/ws for an accepted WebSocket upgrade). */
  forward(req: UpstreamRequest): void;
  /**
   * Decision endpoints (node/decision): the request is allowed — answer instead of forwarding.
   * `authz`: the outbound token step's Authorization value, null when the route has none.
   * When present, forward is never called.
   */
  allow?(authz: string | null): void;
}

export interface Pipeline {
  /** Run `ctx` (built against this pipeline's snapshot) through every stage; the outcome goes to `sink`. Never throws for a stage's failure. */
  run(ctx: RequestContext, sink: PipelineSink): void;
}

/** One request's pass: the stage it is at and what the outbound step yielded. */
export interface Run {
  readonly ctx: RequestContext;
  readonly sink: PipelineSink;
  readonly stages: readonly Stage[];
  /** Authorization value for the upstream from the outbound step; null: the client's (or none). */
  authz: string | null;
  callerHeader: string | null;
  /** Verification outcome handed to afterVerify. */
  verified: StageResult;
}

export interface Stage {
  readonly name: string;
  run(r: Run): StageResult | Promise<StageResult>;
  /** A denial of this stage is an auth decision (metrics `decision`); the outbound step's is not. */
  readonly decides: boolean;
  /** What the client gets when the stage's promise rejects (a bug: stages never reject by contract). */
  readonly failed: { readonly error: ProxyError; readonly reason: string | null; readonly log: string };
}
