// Logger construction: pino with an asynchronous destination (never synchronous
// writes on the hot path), JSON by default, pretty in dev mode. Redaction keeps
// credentials out even if a header object slips into a log call.
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'token', 'access_token', 'client_secret', 'password'];

/**
 * A token fingerprint (first 8 bytes of SHA-256, hex) for a log field named `token`: the one
 * value redaction lets through there, so a raw token logged by mistake is still censored.
 */
export class Fingerprint {
  constructor(readonly hex: string) {}
  toJSON(): string { return this.hex; }
}

const censor = (value: unknown): unknown => (value instanceof Fingerprint ? value.hex : '[redacted]');

/** Create the process logger. `pretty` uses pino-pretty in-process (dev only). */
export function createLogger(opts: { level: string; format: 'json' | 'pretty'; name?: string }): Logger {
  const base = { name: opts.name ?? 'portcullis', pid: process.pid };
  if (opts.format === 'pretty') {
    return pino({ level: opts.level, base, redact: { paths: REDACT, censor } },
      pino.transport({ target: 'pino-pretty', options: { colorize: process.stdout.isTTY, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } }));
  }
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
  return pino({ level: opts.level, base, redact: { paths: REDACT, censor } }, dest);
}

/** Flush an async logger before exit (best effort). */
export function flushLogger(logger: Logger): void {
  try { logger.flush(); } catch { /* destination already closed */ }
}
