/** Watching files for change, as the configuration files and the listener's certificate are watched. */
import { type FSWatcher, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` (debounced) when any of `files` may have changed: the containing directory
 * is watched, so editors' rename-into-place and Kubernetes ConfigMap symlink swaps are seen; a
 * stat poll backs it up where inotify is unavailable (some bind mounts and network filesystems).
 */
export function watchFiles(files: readonly string[], onChange: () => void, pollMs = 2_000, debounceMs = 150): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  const names = new Set(files.map((f) => basename(f)));
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // ConfigMap volumes swap a `..data` symlink; anything else must be one of our files.
        if (name === null || names.has(name) || name.startsWith('..')) fire();
      });
      w.on('error', () => {}); // the poll below still covers the file
      watchers.push(w);
    } catch {
      // no inotify here: rely on the poll
    }
  }
  for (const f of files) watchFile(f, { persistent: false, interval: pollMs }, fire);
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
      for (const f of files) unwatchFile(f, fire);
    },
  };
}
