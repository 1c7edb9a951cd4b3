/** The work directory (logs, configuration files, registry storage, the upload source file) and proxy-cache's store. */
import { accessSync, constants, mkdirSync, mkdtempSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE_MAX_BYTES, MiB } from './constants.ts';
import type { Sizes } from './options.ts';

/** Free bytes on the file system of `dir` (0 when it cannot be read). */
function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** BENCH_TMPDIR, else /dev/shm (tmpfs: disk speed stays out of the numbers) when it has room. */
function pickBase(need: number): string {
  const env = process.env['BENCH_TMPDIR'];
  if (env) return env;
  for (const d of ['/dev/shm', tmpdir()]) {
    try {
      accessSync(d, constants.W_OK);
      if (freeBytes(d) >= need) return d;
    } catch {
      // next
    }
  }
  return tmpdir();
}

/**
 * Bytes a run writes to the work directory besides the cache: the upload source file, and the
 * registry storage (the blobs, an upload in progress, the fresh blobs of cache-cold-concurrent).
 */
export const workNeed = (s: Sizes, rounds: number): number => s.mono * 4 + rounds * s.cacheCold + 512 * MiB;

/** Bytes proxy-cache's store holds by the end of a run: the 1 GiB blob, the fresh blobs, manifests. */
export const cacheNeed = (s: Sizes, rounds: number): number => Math.min(CACHE_MAX_BYTES, s.mono + rounds * s.cacheCold + 256 * MiB);

/** Creates a fresh work directory with room for `need` bytes, and its storage/ directory. */
export function createWorkDir(need: number): string {
  const work = mkdtempSync(join(pickBase(need), 'ocp-bench-'));
  mkdirSync(storageDir(work));
  return work;
}

/**
 * Where proxy-cache's store goes: `<work>/cache` when the work directory's file system has room
 * for `need` bytes besides the `workNeed` the rest of the run writes there; else a directory of
 * its own in the system temp directory (on disk: /dev/shm is too small). `inWork` says which.
 */
export function cacheDirFor(work: string, workBytes: number, need: number): { dir: string; inWork: boolean } {
  if (freeBytes(work) >= workBytes + need || freeBytes(tmpdir()) < need) {
    const dir = join(work, 'cache');
    mkdirSync(dir);
    return { dir, inWork: true };
  }
  return { dir: mkdtempSync(join(tmpdir(), 'ocp-bench-cache-')), inWork: false };
}

/** The storage directory all the registries share. */
export const storageDir = (work: string): string => join(work, 'storage');
