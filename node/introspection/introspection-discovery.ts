// Finds an issuer's RFC 7662 introspection endpoint through its metadata (RFC 8414 /
// OpenID discovery) when the config names none, retrying with backoff until found or
// stopped. Used by IntrospectionSet when a new introspection client goes live.
import { undici } from '../lazy-packages.js';
import type { IssuerConfig } from '../config/index.js';
import type { IntrospectionClient } from './introspection-client.js';
import { discoveryUrls, fetchJson, metadataEndpoint } from '../jwt/jwks-fetch.js';
import { loggedUrl, type Logger } from '../log.js';

/** Discovery backoff for the introspection endpoint: 0.5 s doubling to 30 s. */
const DISCOVERY_FIRST_MS = 500;
const DISCOVERY_MAX_MS = 30_000;

/**
 * Find `introspection_endpoint` in the issuer's metadata (RFC 8414) and hand it to the client;
 * retries with backoff until found or stopped. Returns the stop function.
 */
export function discoverIntrospection(name: string, cfg: IssuerConfig, client: IntrospectionClient, logger: Logger): () => void {
  const abort = new AbortController();
  const agent = new (undici().Agent)({ connections: 1 });
  let timer: NodeJS.Timeout | null = null;
  let delay = DISCOVERY_FIRST_MS;
  let closed = false;
  const closeAgent = (): void => { if (!closed) { closed = true; agent.close().catch(() => {}); } };
  const attempt = async (): Promise<void> => {
    const errors: string[] = [];
    for (const url of discoveryUrls(cfg.issuer, cfg.discovery === false ? true : cfg.discovery)) {
      const shown = loggedUrl(url);
      const r = await fetchJson(url, { dispatcher: agent, timeoutMs: cfg.jwks.timeout_ms, signal: abort.signal });
      if (abort.signal.aborted) return;
      if (!r.ok) { errors.push(`${shown}: ${r.message}`); continue; }
      const doc = r.body as { issuer?: unknown; introspection_endpoint?: unknown } | null;
      if (doc?.issuer !== cfg.issuer) { errors.push(`${shown}: issuer does not match`); continue; }
      const endpoint = metadataEndpoint(url, doc.introspection_endpoint);
      if (endpoint === 'missing') { errors.push(`${shown}: no introspection_endpoint`); continue; }
      // our client secret would travel in clear text
      if (endpoint === 'downgrade') { errors.push(`${shown}: introspection_endpoint is plain http in an https document (refused)`); continue; }
      client.setEndpoint(endpoint);
      logger.info({ issuer: name }, 'introspection endpoint discovered');
      closeAgent();
      return;
    }
    logger.warn({ issuer: name, errors, retry_ms: delay }, 'introspection endpoint discovery failed');
    timer = setTimeout(() => { timer = null; void attempt(); }, delay);
    timer.unref();
    delay = Math.min(delay * 2, DISCOVERY_MAX_MS);
  };
  void attempt();
  return () => { abort.abort(); if (timer !== null) clearTimeout(timer); closeAgent(); };
}
