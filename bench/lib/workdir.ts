/** The work directory: logs, configuration files, registry storage, the upload source file. */
import { accessSync, constants, mkdirSync, mkdtempSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** BENCH_TMPDIR, else /dev/shm (tmpfs: disk speed stays out of the numbers) when it has room. */
function pickBase(need: number): string {
  const env = process.env['BENCH_TMPDIR'];
  if (env) return env;
  for (const d of ['/dev/shm', tmpdir()]) {
    try {
      accessSync(d, constants.W_OK);
      const s = statfsSync(d);
      if (s.bavail * s.bsize >= need) return d;
    } catch {
      // next
    }
  }
  return tmpdir();
}

/** Creates a fresh work directory with room for `need` bytes, and its storage/ directory. */
export function createWorkDir(need: number): string {
  const work = mkdtempSync(join(pickBase(need), 'ocp-bench-'));
  mkdirSync(storageDir(work));
  return work;
}

/** The storage directory all three registries share. */
export const storageDir = (work: string): string => join(work, 'storage');
