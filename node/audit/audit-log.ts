// The audit trail: one JSON line per administrative action, on its own pino destination
// (`log.audit.file`, created 0600, or standard output when no file is set), apart from the
// request and component logs so it can be shipped and kept on its own terms. Never a token
// or secret: actors and tokens appear as fingerprints only.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/** Who asked. */
export type AuditActor =
  | { readonly kind: 'admin_token'; readonly token: string; readonly address: string }
  | { readonly kind: 'unauthenticated'; readonly token: string | null; readonly address: string }
  | { readonly kind: 'signal'; readonly signal: string }
  | { readonly kind: 'file_watch' }
  /** Another cluster member (a revocation that arrived over the bus): its member id. */
  | { readonly kind: 'member'; readonly origin: string }
  /** Whoever pushed a cluster policy version (`policy push --by NAME`, or `admin-api@<member>`), as its entry records it. */
  | { readonly kind: 'policy_pusher'; readonly by: string };

/** One audit record (`action` names what was asked, `outcome` how it ended). */
export interface AuditRecord {
  readonly action: string;
  readonly actor: AuditActor;
  readonly outcome: 'ok' | 'refused' | 'failed' | 'unauthorized';
  /** The HTTP status of an admin call. */
  readonly status?: number;
  /** Versions before and after (config, policy) when the action can change them. */
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after?: Readonly<Record<string, unknown>>;
  /** What the action was about, without secrets (a revocation's kind and subject, a policy's digest…). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AuditSettings {
  /** File the records are appended to (created 0600, parent directories too); absent: standard output. */
  readonly file?: string | undefined;
}

/** How long recordSoon may hold a record, ms. */
const SOON_MS = 50;

export class AuditLog {
  /** Records handed to recordSoon, not yet written, and the timer that will write them. */
  private queued: AuditRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly writeQueued = (): void => {
    this.timer = null;
    const q = this.queued;
    this.queued = [];
    for (const r of q) this.record(r);
  };

  private constructor(private readonly out: Logger, private readonly dest: pino.DestinationStream & { flushSync?: () => void; end?: () => void }) {}

  /** Open the destination; throws (with the path) when the file cannot be created. */
  static open(s: AuditSettings): AuditLog {
    let dest: pino.DestinationStream;
    if (s.file !== undefined) {
      mkdirSync(dirname(s.file), { recursive: true, mode: 0o700 });
      // create it 0600 and tighten one that exists: audit lines name actors and subjects
      closeSync(openSync(s.file, 'a', 0o600));
      chmodSync(s.file, 0o600);
      dest = pino.destination({ dest: s.file, sync: false, append: true, mkdir: false, minLength: 0 });
    } else {
      dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
    }
    const out = pino({ base: { name: 'portcullis-audit', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, dest);
    return new AuditLog(out, dest as AuditLog['dest']);
  }

  /** Write one record (asynchronously; never throws). */
  record(r: AuditRecord): void {
    try {
      this.out.info({ audit: true, ...r }, 'audit');
    } catch { /* an audit write must not break the admin call; pino reports destination errors itself */ }
  }

  /**
   * Write `r` within SOON_MS (50 ms), together with the others queued meanwhile (in order). For
   * records of work done at a moment the request path owns — a revocation from another member
   * just applied: the requests it now refuses are served first, the audit write (JSON, a
   * thread-pool hand-off, a wake-up of the log reader) comes after them, once per batch. A crash
   * loses at most SOON_MS of such lines (the revocation itself is in the stream and in its
   * origin's audit trail). Never throws; close() writes what is still queued.
   */
  recordSoon(r: AuditRecord): void {
    this.queued.push(r);
    if (this.timer === null) {
      this.timer = setTimeout(this.writeQueued, SOON_MS);
      this.timer.unref();
    }
  }

  /** Flush what is buffered (at shutdown). */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.writeQueued();
    try { this.dest.flushSync?.(); } catch { /* not yet open */ }
  }
}
