// Which finished requests get an access-log line: all of them, unless their route samples its
// allowed requests (`routes[].access_log.sample_allowed`). A denial, an error status, a response
// that did not end complete and a request whose trace is sampled are always logged.
import type { Relay } from './relay.js';

/** True when `relay`'s access-log line is written (either listener's relay: node/http, node/http2). */
export function keepAccessLine(relay: Pick<Relay, 'status' | 'outcome' | 'ctx'>): boolean {
  const s = relay.ctx.route.config.access_log?.sample_allowed;
  if (s === undefined || s >= 1) return true;
  if (relay.status >= 400 || relay.status < 100 || relay.ctx.denyReason !== null || relay.outcome !== 'complete') return true;
  if (relay.ctx.trace?.sampled === true) return true;
  return Math.random() < s;
}
