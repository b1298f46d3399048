// The audit trail: one JSON line per administrative action, on its own file (`log.audit.file`,
// created 0600, or standard output when no file is set), apart from the request and component
// logs so it can be shipped and kept on its own terms. Written synchronously, in order, so a
// clean close loses nothing. Never a token or secret: actors and tokens appear as fingerprints only.
import { appendFileSync, chmodSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { oneLine } from '../log.js';
import type { AuditRecord } from './audit-record.js';
import { UnauthorizedBudget } from './unauthorized-budget.js';

export type { AuditActor, AuditRecord } from './audit-record.js';

export interface AuditSettings {
  /** File the records are appended to (created 0600, parent directories too); absent: standard output. */
  readonly file?: string | undefined;
}

/** How long recordSoon may hold a record, ms. */
const SOON_MS = 50;
/** How long a write may wait for a full pipe on standard output (EAGAIN) before the lines are given up, ms. */
const FULL_PIPE_WAIT_MS = 2_000;

/** pino's destination: the lines of one record() or one batch, collected for a single write. */
class LineCollector {
  private lines = '';
  write(s: string): void { this.lines += oneLine(s); }
  take(): string {
    const s = this.lines;
    this.lines = '';
    return s;
  }
}

export class AuditLog {
  /** Records handed to recordSoon, not yet written, and the timer that will write them. */
  private queued: AuditRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Lines whose write failed (disk full, file size limit, a bad descriptor): the actions went on. */
  private linesLost = 0;
  private readonly unauthorized = new UnauthorizedBudget((r) => this.record(r));
  private readonly writeQueued = (): void => {
    this.timer = null;
    const q = this.queued;
    this.queued = [];
    for (const r of q) this.format(r);
    this.flush();
  };

  /**
   * `fd`: the open audit file (or 1); `file`: its path, for records after close(). Writes are
   * synchronous — a record's line is in the file when record() returns, lines keep their order
   * and close() needs no wait. An asynchronous destination (pino's, used before) reordered lines
   * at close (its flushSync wrote the buffered ones while an earlier write was still in flight)
   * and could lose them when the process exited first. Audit writes are rare (admin calls,
   * reloads) or batched (recordSoon), so a few µs of write(2) off the request path is cheap.
   */
  private constructor(private readonly out: Logger, private readonly lines: LineCollector, private fd: number, private readonly file: string | null) {}

  /** Open the destination; throws (with the path) when the file cannot be created. */
  static open(s: AuditSettings): AuditLog {
    let fd = 1;
    if (s.file !== undefined) {
      mkdirSync(dirname(s.file), { recursive: true, mode: 0o700 });
      fd = openSync(s.file, 'a', 0o600);
      // tighten one that exists: audit lines name actors and subjects
      chmodSync(s.file, 0o600);
    }
    const lines = new LineCollector();
    const out = pino({ base: { name: 'portcullis-audit', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, lines);
    return new AuditLog(out, lines, fd, s.file ?? null);
  }

  /** Write one record now (synchronously, after any still queued by recordSoon; never throws). */
  record(r: AuditRecord): void {
    if (this.queued.length > 0) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.writeQueued();
    }
    this.format(r);
    this.flush();
  }

  /**
   * Write `r` within SOON_MS (50 ms), together with the others queued meanwhile (in order, one
   * write). For records of work done at a moment the request path owns — a revocation from
   * another member just applied: the requests it now refuses are served first, the audit write
   * (JSON, a write(2)) comes after them, once per batch. A crash loses at most SOON_MS of such
   * lines (the revocation itself is in the stream and in its origin's audit trail). Never
   * throws; close() writes what is still queued.
   */
  recordSoon(r: AuditRecord): void {
    this.queued.push(r);
    if (this.timer === null) {
      this.timer = setTimeout(this.writeQueued, SOON_MS);
      this.timer.unref();
    }
  }

  /** Metric source keys (node/metrics/component-families.ts): `audit.lines_lost`, `audit.unauthorized_coalesced`. */
  stats(): Record<string, number> {
    return { 'audit.lines_lost': this.linesLost, 'audit.unauthorized_coalesced': this.unauthorized.coalesced };
  }

  /**
   * An admin call refused for want of a valid token (outcome `unauthorized`): written at once while
   * this second has had fewer than 20 of them, else counted into one summary record
   * (`admin.unauthorized_coalesced`) written when the second ends (node/audit/unauthorized-budget.ts).
   */
  recordUnauthorized(r: AuditRecord): void {
    this.unauthorized.note(r);
  }

  /** Write what is still queued and close the file (at shutdown). A record after close() is appended by path. */
  close(): void {
    this.unauthorized.flush();
    if (this.timer !== null) clearTimeout(this.timer);
    this.writeQueued();
    if (this.closed) return;
    this.closed = true;
    if (this.file !== null) {
      try { closeSync(this.fd); } catch { /* already gone */ }
      this.fd = -1;
    }
  }

  private format(r: AuditRecord): void {
    try {
      this.out.info({ audit: true, ...r }, 'audit');
    } catch { /* a record that cannot be serialised must not break the admin call */ }
  }

  /** Write the collected lines in one go; a failure is reported on stderr, never thrown. */
  private flush(): void {
    const s = this.lines.take();
    if (s.length === 0) return;
    try {
      if (this.closed && this.file !== null) appendFileSync(this.file, s, { mode: 0o600 });
      else writeAll(this.fd, Buffer.from(s, 'utf8'));
    } catch (err) {
      const lines = s.split('\n').length - 1;
      this.linesLost += lines;
      process.stderr.write(`portcullis: audit trail write failed (${(err as NodeJS.ErrnoException).code ?? String(err)}); ${lines} line(s) not written\n`);
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** write(2) until every byte is out; a full non-blocking pipe (EAGAIN) is waited on for up to FULL_PIPE_WAIT_MS. */
function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  let waited = 0;
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || waited >= FULL_PIPE_WAIT_MS) throw err;
      Atomics.wait(pause, 0, 0, 5);
      waited += 5;
    }
  }
}
