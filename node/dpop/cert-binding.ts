// RFC 8705 certificate-bound access tokens: a token whose `cnf` carries `x5t#S256` is accepted
// only on a connection whose verified client certificate has that SHA-256 thumbprint. On a
// listener that asks for no client certificates (ctx.clientCert absent) the binding cannot be
// checked and the token stays refused by dpop-stage.ts (cnf_unenforceable).
import { proxyError } from '../errors.js';
import { CONTINUE, type RequestContext, type StageResult } from '../pipeline/context.js';

const deny = (message: string, reason: string): StageResult =>
  Object.freeze({ kind: 'deny' as const, error: Object.freeze(proxyError('PORTCULLIS_ERR_AUTH_INVALID_TOKEN', message)), reason });
const NO_CERTIFICATE = deny('token is bound to a client certificate (cnf x5t#S256) and the connection presented none', 'cnf_x5t_no_certificate');
const MISMATCH = deny('token is bound to another client certificate (cnf x5t#S256)', 'cnf_x5t_mismatch');

/** The token's cnf["x5t#S256"]: undefined when absent; '' (matches no certificate) when not a string. */
export function boundX5t(claims: Readonly<Record<string, unknown>>): string | undefined {
  const cnf = claims.cnf;
  if (cnf === null || typeof cnf !== 'object') return undefined;
  const x = (cnf as Record<string, unknown>)['x5t#S256'];
  if (x === undefined) return undefined;
  return typeof x === 'string' ? x : '';
}

/** True when `ctx` came over a listener that checks client certificates (mTLS on). */
export function checksCertificates(ctx: RequestContext): boolean {
  return ctx.clientCert !== undefined;
}

/** CONTINUE when the token is not certificate-bound or its certificate is the connection's; else 401 invalid_token. */
export function checkCertBinding(ctx: RequestContext, claims: Readonly<Record<string, unknown>>): StageResult {
  const x5t = boundX5t(claims);
  if (x5t === undefined) return CONTINUE;
  const cert = ctx.clientCert;
  if (cert === undefined || cert === null) return NO_CERTIFICATE;
  return x5t !== '' && x5t === cert.thumbprint ? CONTINUE : MISMATCH;
}
