// An upstream's 401 `invalid_token` (RFC 6750 §3.1) to the token the route's outbound step attached
// (node/s2s): recognising the challenge, telling the step (which drops that token), and the fresh
// token a transport sends the request once more with.
import type { RequestContext } from './context.js';
import type { OutboundResult, Snapshot } from './snapshot.js';

const BEARER_SCHEME = /(?:^|[\s,])bearer(?=\s|,|$)/i;
const INVALID_TOKEN = /(?:^|[\s,])error\s*=\s*(?:"invalid_token"|invalid_token)(?=[\s,]|$)/i;

/** True when a `www-authenticate` field of `headers` (flat, lower-case names) is a Bearer challenge with `error="invalid_token"`. */
export function invalidTokenChallenge(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'www-authenticate') continue;
    const v = headers[i + 1]!;
    const m = BEARER_SCHEME.exec(v);
    // the parameters after the Bearer scheme name (another scheme's error= before it does not count)
    if (m !== null && INVALID_TOKEN.test(v.slice(m.index + m[0].length))) return true;
  }
  return false;
}

/** The value of the (single) `authorization` field the proxy sent, or null. */
function sentAuthorization(sent: readonly string[]): string | null {
  for (let i = 0; i < sent.length; i += 2) if (sent[i] === 'authorization') return sent[i + 1]!;
  return null;
}

/**
 * A 401 response head from the upstream of `ctx`: when the route attaches its own token (an
 * outbound step) and the answer is a Bearer `invalid_token` challenge, the step is told (it drops
 * the token, rate-limited, and counts it). `canRetry`: the transport would send the request once
 * more. True when it should: another token is there or being fetched.
 */
export function outboundRefused(snap: Snapshot, ctx: RequestContext, headers: readonly string[], sent: readonly string[], canRetry: boolean): boolean {
  const step = snap.outbound[ctx.route.index];
  if (step == null || !invalidTokenChallenge(headers)) return false;
  const authz = sentAuthorization(sent);
  return authz !== null && step.refused(ctx, authz, canRetry) && canRetry;
}

/**
 * The token for the retry: the outbound step asked again (a fetch may run; one for every request
 * waiting on it), then the inbound token judged against the revocations again, as after any wait.
 * Never rejects.
 */
export function freshAuthorization(snap: Snapshot, ctx: RequestContext): Promise<OutboundResult> {
  const step = snap.outbound[ctx.route.index]!;
  return Promise.resolve(step.authorization(ctx)).then((a) => {
    const v = snap.auth.revocation(ctx);
    return v.kind === 'continue' ? a : v;
  });
}

/** `sent` with its authorization value replaced by `authz` (in place). */
export function replaceAuthorization(sent: string[], authz: string): void {
  for (let i = 0; i < sent.length; i += 2) if (sent[i] === 'authorization') { sent[i + 1] = authz; return; }
}
