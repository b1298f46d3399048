// Optional file watch for hot reload (`serve --watch`): watches the config file's
// directory (editors and `kubectl` ConfigMap updates replace the file rather than write
// it in place) and calls back once per burst of changes.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** Debounce between the last change event and the reload, ms. */
const SETTLE_MS = 200;

/** Call `onChange` after `file` changes (debounced). Returns the stop function. */
export function watchConfig(file: string, onChange: () => void): () => void {
  const abs = resolve(file);
  const name = basename(abs);
  let timer: NodeJS.Timeout | null = null;
  const fire = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; onChange(); }, SETTLE_MS);
    timer.unref();
  };
  const w: FSWatcher = watch(dirname(abs), { persistent: false }, (_event, f) => {
    // ConfigMaps swap a `..data` symlink: any change in the directory may be ours
    if (f === null || f === name || f.startsWith('..')) fire();
  });
  w.on('error', () => {});
  return () => { if (timer !== null) clearTimeout(timer); w.close(); };
}
