// Optional file watch for hot reload (`serve --watch`): watches the config file's
// directory (editors and `kubectl` ConfigMap updates replace the file rather than write
// it in place), and those of the listener TLS files a reload reads again, and calls back once per burst of changes.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** Debounce between the last change event and the reload, ms. */
const SETTLE_MS = 200;

/**
 * Call `onChange` after `file` or one of `also` changes (debounced, one call per burst). `also`:
 * more files whose change needs a reload (server.http2.tls files renewed in place). Returns the stop function.
 */
export function watchConfig(file: string, onChange: () => void, also: readonly string[] = []): () => void {
  let timer: NodeJS.Timeout | null = null;
  const fire = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; onChange(); }, SETTLE_MS);
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
  const watchers: FSWatcher[] = [];
  for (const [dir, ours] of names) {
    const w: FSWatcher = watch(dir, { persistent: false }, (_event, f) => {
      // ConfigMaps and Secrets (cert-manager) swap a `..data` symlink: any change in the directory may be ours
      if (f === null || ours.has(f) || f.startsWith('..')) fire();
    });
    w.on('error', () => {});
    watchers.push(w);
  }
  return () => { if (timer !== null) clearTimeout(timer); for (const w of watchers) w.close(); };
}

/** The files of `server.http2.tls` a reload reads again (certificate, key, client CAs): what `--watch` watches beside the config. */
export function renewableTlsFiles(server: { readonly http2?: { readonly tls?: { readonly cert_file: string; readonly key_file: string; readonly client_ca_file?: string } } }): string[] {
  const t = server.http2?.tls;
  return t === undefined ? [] : [t.cert_file, t.key_file, ...(t.client_ca_file !== undefined ? [t.client_ca_file] : [])];
}
