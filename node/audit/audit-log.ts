// The audit trail: one JSON line per administrative action, on its own file (`log.audit.file`,
// created 0600, written synchronously, in order, so a clean close loses nothing) or, when no file is
// set, through the process log's stdout queue. Never a token or secret: actors and tokens appear as
// fingerprints only. A file moved or removed under the process (logrotate) is reopened by its path.
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { logLinesDropped, oneLine } from '../log.js';
import type { AuditRecord } from './audit-record.js';
import { UnauthorizedBudget } from './unauthorized-budget.js';

export type { AuditActor, AuditRecord } from './audit-record.js';

export interface AuditSettings {
  /** File the records are appended to (created 0600, parent directories too); absent: standard output. */
  readonly file?: string | undefined;
}

/** How long recordSoon may hold a record, ms. */
const SOON_MS = 50;

/**
 * A JSON line destination on standard output (node/log.ts auditLineSink): where records go when no
 * file is set. It escapes U+2028/U+2029 itself (log-destination.ts oneLine), so they are escaped once.
 */
export interface LineSink { write(lines: string): unknown }

/** pino's destination: the lines of one record() or one batch, collected for a single write (escaped by where they go). */
class LineCollector {
  private lines = '';
  write(s: string): void { this.lines += s; }
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
  /** Times the path no longer named the open file (moved, removed, replaced) and was opened again. */
  private reopened = 0;
  /** The open file's device and inode, to tell whether the path still names it. */
  private dev = 0;
  private ino = 0;
  /** A failed write left part of a line that could not be cut off again: the next write starts a new line. */
  private midLine = false;
  private readonly unauthorized = new UnauthorizedBudget((r) => this.record(r));
  private readonly writeQueued = (): void => {
    this.timer = null;
    const q = this.queued;
    this.queued = [];
    for (const r of q) this.format(r);
    this.flush();
  };

  /**
   * `fd`: the open audit file (-1 without one); `file`: its path, for records after close(). Writes are
   * synchronous — a record's line is in the file when record() returns, lines keep their order
   * and close() needs no wait. An asynchronous destination (pino's, used before) reordered lines
   * at close (its flushSync wrote the buffered ones while an earlier write was still in flight)
   * and could lose them when the process exited first. Audit writes are rare (admin calls,
   * reloads) or batched (recordSoon), so a few µs of write(2) off the request path is cheap.
   */
  private constructor(private readonly out: Logger, private readonly lines: LineCollector, private fd: number, private readonly file: string | null,
    private readonly stdout: LineSink) {
    if (fd >= 0) this.noteIdentity();
  }

  /**
   * Open the destination; throws (with the path) when the file cannot be created. Without a file the
   * records join `stdout`, the process log's asynchronous queue: one writer on standard output, so a
   * record never waits on the event loop for a full pipe (a synchronous write did, up to 2 s per
   * record while a log shipper stalled: any unauthenticated admin call froze every request) and is
   * never cut by the other lines; what that queue drops is counted as lost here.
   */
  static open(s: AuditSettings, stdout: LineSink): AuditLog {
    const fd = s.file === undefined ? -1 : openAuditFile(s.file);
    const lines = new LineCollector();
    const out = pino({ base: { name: 'portcullis-audit', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, lines);
    return new AuditLog(out, lines, fd, s.file ?? null, stdout);
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

  /** Metric source keys (node/metrics/component-families.ts): `audit.lines_lost`, `audit.unauthorized_coalesced`, `audit.file_reopened`. */
  stats(): Record<string, number> {
    return { 'audit.lines_lost': this.linesLost, 'audit.unauthorized_coalesced': this.unauthorized.coalesced, 'audit.file_reopened': this.reopened };
  }

  /**
   * An admin call refused for want of a valid token (outcome `unauthorized`): written at once while
   * this second has had fewer than 20 of them, else counted into one summary record
   * (`admin.unauthorized_coalesced`) written when the second ends (node/audit/unauthorized-budget.ts).
   */
  recordUnauthorized(r: AuditRecord): void {
    this.unauthorized.note(r);
  }

  /** Write what is still queued and close the file (at shutdown). A record after close() is appended by path (appendAfterClose). */
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
    if (this.file === null) {
      const dropped = logLinesDropped();
      this.stdout.write(s);
      this.linesLost += logLinesDropped() - dropped;
      return;
    }
    try {
      // the file has no destination of its own to escape U+2028/U+2029: done here (stdout's does it)
      const line = oneLine(s);
      if (this.closed) this.appendAfterClose(this.file, Buffer.from(line, 'utf8'));
      else {
        this.followPath(this.file);
        this.writeLines(Buffer.from(this.midLine ? `\n${line}` : line, 'utf8'));
      }
    } catch (err) {
      const lines = s.split('\n').length - 1;
      this.linesLost += lines;
      process.stderr.write(`portcullis: audit trail write failed (${(err as NodeJS.ErrnoException).code ?? String(err)}); ${lines} line(s) not written\n`);
    }
  }

  /**
   * Reopen `file` when its path no longer names the open file: moved away (logrotate without
   * copytruncate), removed, or replaced. Records written to the old descriptor reached a renamed file
   * no reader follows, or a removed one nobody can read, and were counted as written. One stat(2)
   * per write (~5–9 µs more per record on a loaded host, never on the request path: audit writes are admin
   * actions, rare or batched). Throws when the path cannot be opened again.
   */
  private followPath(file: string): void {
    const st = statSync(file, { throwIfNoEntry: false });
    if (st !== undefined && st.dev === this.dev && st.ino === this.ino) return;
    const fd = reopenAuditFile(file);
    try { closeSync(this.fd); } catch { /* already gone */ }
    this.fd = fd;
    this.midLine = false;
    this.noteIdentity();
    this.reopened++;
    process.stderr.write(`portcullis: audit file ${file} was moved or removed; writing to a new file at its path\n`);
  }

  /**
   * A record after close(): appended by path, to the file it had open when the path still names it, else like a
   * reopen (reopenAuditFile) — before, appendFileSync followed a symlink planted at the path (and created
   * its target), the hole the reopen closes.
   */
  private appendAfterClose(file: string, b: Buffer): void {
    let fd = -1;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK);
      const st = fstatSync(fd);
      if (st.dev !== this.dev || st.ino !== this.ino) { closeSync(fd); fd = -1; }
    } catch {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    }
    if (fd < 0) fd = reopenAuditFile(file);
    try {
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
    } finally {
      closeSync(fd);
    }
  }

  private noteIdentity(): void {
    const st = fstatSync(this.fd);
    this.dev = st.dev;
    this.ino = st.ino;
  }

  /**
   * write(2) until every byte is out. A write that fails part way (disk full, file size limit) has its
   * part cut off the file's end again: left there, the next record written was glued onto it and
   * neither line read as JSON. When the cut fails too, the next write starts with a newline.
   */
  private writeLines(b: Buffer): void {
    let off = 0;
    try {
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
      this.midLine = false;
    } catch (err) {
      if (off > 0) {
        try { ftruncateSync(this.fd, fstatSync(this.fd).size - off); } catch { this.midLine = true; }
      }
      throw err;
    }
  }
}

/** Open (create 0600, parent directories 0700) the audit file for appending; throws with the path. */
function openAuditFile(file: string): number {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'a', 0o600);
  // tighten one that exists (audit lines name actors and subjects), through the descriptor: the path may name another file by now
  fchmodSync(fd, 0o600);
  return fd;
}

const REOPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Open the audit file again after its path stopped naming the open one: what is at the path now was put there
 * while the proxy ran, by a log rotation or by anyone who can write the directory. So no symlink is followed
 * (O_NOFOLLOW: before, one planted there had each record appended to, and its target chmod 0600, whatever
 * file it named — as the proxy's user), no FIFO blocks the event loop (O_NONBLOCK: ENXIO without a reader),
 * and only a regular file with one link is taken. Throws (the record is counted lost) otherwise.
 */
function reopenAuditFile(file: string): number {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, REOPEN_FLAGS, 0o600);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1) throw Object.assign(new Error(`${file} is not a regular file of its own`), { code: 'EAUDITFILE' });
    fchmodSync(fd, 0o600);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
