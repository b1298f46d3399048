// Live WebSockets whose token an authorization server judged (introspection) are judged again
// about once a second through the token check and policy HTTP requests use, so a token the server
// now answers inactive for (revoked there), or grants less, ends its sockets as HTTP starts refusing it.
import type { RequestContext, StageResult } from '../pipeline/context.js';

/** Verify a token again: the listener's current token check, run on a copy of the upgrade request's context. */
export type Recheck = (ctx: RequestContext) => StageResult | Promise<StageResult>;

/** What a checked connection offers (WsBridge). */
export interface Rechecked {
  readonly relay: { readonly ctx: RequestContext };
  readonly principal: RequestContext['principal'];
}

/**
 * The check a live socket gets (the listener's current `auth`): the token verified again, then the
 * route's policy for the principal that yields — an answer that still says active but no longer
 * grants what the route needs (a scope taken away: HTTP 403 now) refuses the socket too.
 */
export function verifyAndAuthorize(auth: { verify: Recheck; authorize(ctx: RequestContext): StageResult }, ctx: RequestContext): StageResult | Promise<StageResult> {
  const then = (r: StageResult): StageResult => (r.kind === 'continue' ? auth.authorize(ctx) : r);
  const r = auth.verify(ctx);
  return r instanceof Promise ? r.then(then) : then(r);
}

/** Least time between two checks of one connection, ms (each one is a cache lookup while the answer is cached). */
export const RECHECK_MS = 1_000;

/** The code of a check that could not be made (authorization server down or slow): not a refusal. */
const UNAVAILABLE = 'PORTCULLIS_ERR_AUTH_UNAVAILABLE';

/**
 * Holds the connections of introspected principals and checks them on `tick`. `refused` is called
 * once for a connection whose token the check refuses (anything but an outage); an outage keeps it
 * for the next round. A null `check` (no token check wired) holds nothing.
 */
export class OpaqueRecheck<C extends Rechecked> {
  private readonly conns = new Set<C>();
  private readonly pending = new Set<C>();
  private lastMs = 0;

  constructor(private readonly check: Recheck | null, private readonly refused: (c: C) => void) {}

  /** Track `c` when its principal came from introspection. */
  add(c: C): void {
    if (this.check !== null && c.principal?.kind === 'opaque') this.conns.add(c);
  }

  /** Forget `c` (closed). Safe to call twice. */
  delete(c: C): void {
    this.conns.delete(c);
    this.pending.delete(c);
  }

  /** From the shared coarse timer: check every tracked connection at most once per RECHECK_MS. */
  tick(nowMs: number): void {
    if (this.conns.size === 0 || nowMs - this.lastMs < RECHECK_MS) return;
    this.lastMs = nowMs;
    for (const c of this.conns) {
      if (this.pending.has(c)) continue; // the previous check still waits for the authorization server
      let r: StageResult | Promise<StageResult>;
      try {
        r = this.check!({ ...c.relay.ctx, principal: null, denyReason: null });
      } catch {
        continue; // a bug in the check is not the token's refusal
      }
      if (r instanceof Promise) {
        this.pending.add(c);
        r.then((x) => { this.pending.delete(c); this.judge(c, x); }, () => { this.pending.delete(c); });
      } else {
        this.judge(c, r);
      }
    }
  }

  private judge(c: C, r: StageResult): void {
    if (r.kind === 'continue' || r.error.code === UNAVAILABLE || !this.conns.has(c)) return;
    this.conns.delete(c);
    this.refused(c);
  }
}
