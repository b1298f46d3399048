// Logger construction: pino with an asynchronous destination (never synchronous
// writes on the hot path), JSON by default, pretty in dev mode when pino-pretty (a
// devDependency) is installed, else JSON lines. Redaction keeps
// credentials out even if a header object slips into a log call; child loggers merge
// their bindings so every line has each key once.
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import { DEFAULT_BUFFER_BYTES, isLineDestination, lineDestination, settled } from './log-destination.js';

export type { Logger };
export { logLinesDropped, oneLine } from './log-destination.js';

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

/**
 * A URL as a log line or error message may name it: scheme, host and path. Userinfo, query and
 * fragment are left out (a configured JWKS or discovery URL may carry a password or a vendor's
 * key there); text that is not a URL becomes `(invalid URL)`. Never throws.
 */
export function loggedUrl(u: string): string {
  try {
    const x = new URL(u);
    return `${x.protocol}//${x.host}${x.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Flush `logger` and resolve once no write of its lines (nor of the audit's own JSON stdout) is in flight (log-destination.ts `settled`): call before process.exit. */
export function logSettled(logger: Logger): Promise<void> {
  logger.flush();
  return Promise.all([settled(lineSink(logger) as object), jsonStdout === null ? undefined : settled(jsonStdout)]).then(() => undefined);
}

/** stdout for JSON lines beside a pretty logger (auditLineSink), opened on first use. */
let jsonStdout: ReturnType<typeof lineDestination> | null = null;

/**
 * Where audit records on standard output go (node/audit): `logger`'s destination when it writes JSON
 * lines; beside a pretty logger (`log.format: pretty`, pino-pretty's transport, which turned each
 * record into indented text no audit reader parses) a JSON line destination of its own on stdout,
 * writing whole lines of at most PIPE_BUF bytes as the transport's thread writes there too. Either
 * escapes U+2028/U+2029 (log-destination.ts oneLine); lines it could not write count as dropped.
 */
export function auditLineSink(logger: Logger): { write(lines: string): unknown } {
  const own = lineSink(logger);
  if (isLineDestination(own as object)) return own;
  if (jsonStdout === null) {
    const d = lineDestination(DEFAULT_BUFFER_BYTES, true);
    process.once('exit', () => d.flushSync()); // what pino's exit hook does for the logger's own destination
    jsonStdout = d;
  }
  return jsonStdout;
}

/** Where `logger` writes its lines (its pino destination): other writers of standard output go through it, one queue. */
export function lineSink(logger: Logger): { write(lines: string): unknown } {
  return (logger as unknown as Record<symbol, { write(lines: string): unknown }>)[pino.symbols.streamSym]!;
}

/** Separator of nested components in one `component` value: `auth.jwt.jwks`. */
export const COMPONENT_SEPARATOR = '.';

/** True once a pretty logger fell back to JSON (the warning is written once per process). */
let prettyMissingWarned = false;

/** pino-pretty is a devDependency: production installs (the container image) leave it out. */
function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** pino's options for the process logger (level, the name and pid on every line, redaction): also a test's logger over another destination. */
export function loggerOptions(opts: { level: string; name?: string }): pino.LoggerOptions {
  return { level: opts.level, base: { name: opts.name ?? 'portcullis', pid: process.pid }, redact: { paths: REDACT, censor } };
}

/**
 * Create the process logger. `bufferBytes`: lines held while stdout does not take them (default
 * log-destination.ts's DEFAULT_BUFFER_BYTES, 16 MiB; past it lines are dropped and counted).
 * `sharedStdout`: other processes write the same stdout (`serve --workers N`), so each write(2) is
 * atomic (see lineDestination). `pretty` uses pino-pretty in a transport thread (dev only); when
 * the package is not installed it writes JSON lines instead and says so once. Its children
 * (and theirs) merge bindings instead of appending them: a key bound again replaces the
 * parent's value, and nested `component`s join into one value (`auth.jwt.jwks`).
 */
export function createLogger(opts: { level: string; format: 'json' | 'pretty'; name?: string; bufferBytes?: number; sharedStdout?: boolean }): Logger {
  const pretty = opts.format === 'pretty' && prettyInstalled();
  if (pretty) {
    return mergingChildren(pino(loggerOptions(opts),
      pino.transport({ target: 'pino-pretty', options: { colorize: process.stdout.isTTY, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } })));
  }
  const dest = lineDestination(opts.bufferBytes, opts.sharedStdout === true);
  const logger = mergingChildren(pino(loggerOptions(opts), dest));
  if (opts.format === 'pretty' && !prettyMissingWarned) {
    prettyMissingWarned = true;
    logger.warn('log format "pretty" needs the pino-pretty package (a devDependency, not installed here): writing JSON lines');
  }
  return logger;
}

/**
 * Make `root.child()` (inherited by every descendant, pino children being prototype copies)
 * build each child from the root with the merged bindings. pino itself appends a child's
 * bindings to its parent's serialized ones, which writes `"component":"auth","component":"jwt"`
 * — duplicate keys that most JSON readers collapse to the last one. Runs once per child
 * logger (at component set-up), never per log call. The root's own keys (name, pid) are
 * the process identity and are not rebound by children.
 */
type ChildFn = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;

function mergingChildren(root: Logger): Logger {
  // pino's generic child signature (custom levels) does not fit a plain replacement: go through unknown
  const pinoChild = root.child as unknown as ChildFn;
  const rootKeys = Object.keys(root.bindings());
  root.child = function child(this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    const own: pino.Bindings = this === root ? {} : this.bindings();
    for (const k of rootKeys) delete own[k];
    const merged: pino.Bindings = { ...own, ...bindings };
    if (typeof own.component === 'string' && typeof bindings.component === 'string') merged.component = own.component + COMPONENT_SEPARATOR + bindings.component;
    return pinoChild.call(root, merged, { level: this.level, ...options });
  } satisfies ChildFn as unknown as Logger['child'];
  return root;
}

/**
 * Write the `listening` line (the bound ports) at info whatever `log.level` says: scripts and
 * tests read the ports from it, so it must appear even at `error` or `silent`, and it is a
 * regular log line (level, time, pid, name) so log tooling parses it like every other.
 */
export function logListening(logger: Logger, fields: Record<string, unknown>): void {
  logger.child({}, { level: 'info' }).info(fields, 'listening');
}
