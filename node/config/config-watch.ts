// Optional file watch for hot reload (`serve --watch`): watches the config file's
// directory (editors and `kubectl` ConfigMap updates replace the file rather than write
// it in place), and those of the listener TLS files a reload reads again, and calls back once per burst of changes
// that no process still holds open for writing. A watched directory removed (and made again) is watched again once it is back.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openWriter, type OpenWriter } from './open-writers.js';
import { watchHold, type WatchHold } from './watch-hold.js';

/** Debounce between the last change event and the reload, ms. */
const SETTLE_MS = 200;
/** How often files held open for writing are looked at again, ms. */
const HELD_POLL_MS = 500;
/** How often a watched directory that was removed is looked for again, ms. */
const REWATCH_MS = 500;
/** How often a wait for a writer is logged again while it lasts, ms (60 s). */
export const HELD_WARN_MS = 60_000;

/** watchConfig's options beyond the files. */
export interface WatchOptions {
  /** Told when a wait for a writer begins (`waitedMs` 0) and every `warnEveryMs` while it lasts. */
  readonly onHeld?: (w: OpenWriter, waitedMs: number) => void;
  /** Default HELD_WARN_MS. */
  readonly warnEveryMs?: number;
  /** Where the wait is shown (metrics, POST /reload) and an operator's applied reload ends it; default this process's watchHold. */
  readonly hold?: WatchHold;
}

/**
 * Call `onChange` after `file` or one of `also` changes (debounced, one call per burst). `also`:
 * more files whose change needs a reload (server.http2.tls files renewed in place). While a process
 * still has one of them open for writing (an editor or `cat > file` between its writes, a copy under
 * way) no call is made, however long it lasts (a possibly partial file is never applied): `onHeld` is told
 * when the wait begins and every `warnEveryMs` while it lasts, `hold` shows it, and the files are looked at
 * again every HELD_POLL_MS until the writer closes them — before, a prefix held longer than the debounce was
 * applied. A POST /reload applied after the last change seen ends the wait (hold.operatorApplied): that file
 * is running. Returns the stop function.
 */
export function watchConfig(file: string, onChange: () => void, also: readonly string[] = [], opts: WatchOptions = {}): () => void {
  const onHeld = opts.onHeld ?? ((): void => {});
  const warnEveryMs = opts.warnEveryMs ?? HELD_WARN_MS;
  const hold = opts.hold ?? watchHold;
  let timer: NodeJS.Timeout | null = null;
  let checking = false;
  let held = false;
  let heldSince = 0;
  let warnedAt = 0;
  let changedAt = 0; // performance.now() of the last change event: an operator's reload after it applied what changed
  const all = [file, ...also];
  const release = (): void => { held = false; hold.clear(); };
  const settled = (): void => {
    timer = null;
    if (checking) { fire(); return; } // a check under way: look again after it
    checking = true;
    void openWriter(all).then((w) => {
      checking = false;
      if (stopped) return;
      if (timer !== null) return; // changed again meanwhile: its own turn comes
      // POST /reload applied the file since the change (before or after the wait began): nothing left to apply
      if (hold.appliedAt > changedAt) { release(); return; }
      if (w !== null) {
        const now = performance.now();
        if (!held) { held = true; heldSince = now; warnedAt = now; onHeld(w, 0); }
        else if (now - warnedAt >= warnEveryMs) { warnedAt = now; onHeld(w, now - heldSince); }
        hold.held(w, heldSince);
        timer = setTimeout(settled, HELD_POLL_MS);
        timer.unref();
        return;
      }
      release();
      onChange();
    }, () => { checking = false; if (!stopped) fire(); });
  };
  const changed = (): void => { changedAt = performance.now(); fire(); };
  const fire = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(settled, SETTLE_MS);
    timer.unref();
  };
  // one watcher per directory, for the names in it that are ours
  const names = new Map<string, Set<string>>();
  for (const f of [file, ...also]) {
    const abs = resolve(f);
    const set = names.get(dirname(abs)) ?? new Set<string>();
    set.add(basename(abs));
    names.set(dirname(abs), set);
  }
  const watchers = new Map<string, FSWatcher>();
  const retries = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  const arm = (dir: string, ours: ReadonlySet<string>): void => {
    const w: FSWatcher = watch(dir, { persistent: false }, (_event, f) => {
      // ConfigMaps and Secrets (cert-manager) swap a `..data` symlink: any change in the directory may be ours
      if (f === null || ours.has(f) || f.startsWith('..')) changed();
      // the directory itself removed or moved (it may be back already): inotify watches that one no more — before,
      // every later change (a renewal written into a directory made again) went unseen until a restart
      else if (f === basename(dir)) rearm(dir, ours);
    });
    w.on('error', () => rearm(dir, ours));
    watchers.set(dir, w);
  };
  const rearm = (dir: string, ours: ReadonlySet<string>): void => {
    if (stopped || retries.has(dir)) return; // one look-out per directory (its removal reports more than one event)
    watchers.get(dir)?.close();
    watchers.delete(dir);
    const again = (): boolean => {
      if (!existsSync(dir)) return false;
      try { arm(dir, ours); } catch { return false; }
      changed(); // what it holds now was written while nobody watched
      return true;
    };
    if (again()) return;
    const t = setInterval(() => { if (again()) { clearInterval(t); retries.delete(dir); } }, REWATCH_MS);
    t.unref();
    retries.set(dir, t);
  };
  for (const [dir, ours] of names) arm(dir, ours);
  return () => {
    stopped = true;
    if (held) release();
    if (timer !== null) clearTimeout(timer);
    for (const t of retries.values()) clearInterval(t);
    for (const w of watchers.values()) w.close();
  };
}

/** The listener TLS files a reload reads again (`server.tls` and `server.http2.tls`: certificate, key, client CAs): what `--watch` watches beside the config. */
export function renewableTlsFiles(server: { readonly tls?: { readonly cert_file: string; readonly key_file: string }; readonly http2?: { readonly tls?: { readonly cert_file: string; readonly key_file: string; readonly client_ca_file?: string } } }): string[] {
  const t = server.http2?.tls;
  const u = server.tls;
  return [...(u === undefined ? [] : [u.cert_file, u.key_file]), ...(t === undefined ? [] : [t.cert_file, t.key_file, ...(t.client_ca_file !== undefined ? [t.client_ca_file] : [])])];
}
