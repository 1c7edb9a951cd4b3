/**
 * The content-addressed store of the pull-through cache: blobs and manifests by digest in one
 * directory, each committed only whole and verified (fill.ts renames a verified temporary file
 * into place), with a sidecar holding its size and, for manifests, media type.
 *
 *   <dir>/objects/<algorithm>/<2 hex>/<hex>        the bytes
 *   <dir>/objects/<algorithm>/<2 hex>/<hex>.json   {size, mediaType}
 *   <dir>/tmp/                                     fills in progress (cleaned at start-up)
 *   <dir>/locks/<algorithm>-<hex>                  which process fills a digest (shared directories)
 *
 * The index is kept in memory (rebuilt from the directory at start-up) in least-recently-used
 * order. Size is bounded by `maxBytes`: room is made before a fill starts by evicting the least
 * recently used objects nobody is reading, down to 90% of the bound; when that is not enough
 * the fill does not happen (the transfer streams through uncached).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredObject {
  digest: string;
  size: number;
  /** A manifest's media type, exactly as the registry sent it; undefined for blobs. */
  mediaType: string | undefined;
  path: string;
}

interface Entry extends StoredObject {
  readers: number;
}

export interface StoreEvents {
  evicted?: (o: StoredObject) => void;
}

/** Digest algorithms the store can verify (node:crypto names). */
export const VERIFIABLE = new Set(['sha256', 'sha512']);

const LOW_WATERMARK = 0.9;

export class Store {
  readonly dir: string;
  readonly maxBytes: number;
  /** Least recently used first. */
  private readonly index = new Map<string, Entry>();
  private committed = 0;
  private reserved = 0;
  private readonly events: StoreEvents;

  private constructor(dir: string, maxBytes: number, events: StoreEvents) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.events = events;
  }

  /** Opens (creating) the store at `dir`: temporary files of a crashed process go, the index is read from the directory. */
  static async open(dir: string, maxBytes: number, events: StoreEvents = {}): Promise<Store> {
    const store = new Store(dir, maxBytes, events);
    await rm(join(dir, 'tmp'), { recursive: true, force: true });
    for (const sub of ['tmp', 'locks', 'objects']) await mkdir(join(dir, sub), { recursive: true });
    await store.scan();
    return store;
  }

  /** Bytes of committed objects. */
  get size(): number {
    return this.committed;
  }

  get objects(): number {
    return this.index.size;
  }

  pathOf(digest: string): string {
    const [algorithm, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'objects', algorithm, hex.slice(0, 2), hex);
  }

  /** A committed object, marked as just used; on a miss, one another process sharing the directory committed. */
  async lookup(digest: string): Promise<StoredObject | undefined> {
    const e = this.index.get(digest);
    if (e) {
      this.index.delete(digest);
      this.index.set(digest, e);
      return e;
    }
    return this.adopt(digest);
  }

  /** A committed object, without marking it used. */
  peek(digest: string): StoredObject | undefined {
    return this.index.get(digest);
  }

  /** Holds an object against eviction while it is read; the release function is idempotent. */
  hold(digest: string): (() => void) | undefined {
    const e = this.index.get(digest);
    if (!e) return undefined;
    e.readers++;
    let held = true;
    return () => {
      if (held) e.readers--;
      held = false;
    };
  }

  /** Makes room for `bytes` more (evicting); false when even eviction cannot. The caller gives the reservation back with unreserve. */
  reserve(bytes: number): boolean {
    if (bytes > this.maxBytes) return false;
    if (this.committed + this.reserved + bytes > this.maxBytes) this.evict(this.maxBytes * LOW_WATERMARK - bytes);
    if (this.committed + this.reserved + bytes > this.maxBytes) return false;
    this.reserved += bytes;
    return true;
  }

  unreserve(bytes: number): void {
    this.reserved -= bytes;
  }

  /** A fresh temporary file path for a fill. */
  tempPath(): string {
    return join(this.dir, 'tmp', randomBytes(12).toString('hex'));
  }

  /** Moves a verified temporary file into place (its sidecar first, so the bytes never appear without it). */
  async commit(temp: string, digest: string, size: number, mediaType: string | undefined): Promise<StoredObject> {
    const path = this.pathOf(digest);
    await mkdir(join(path, '..'), { recursive: true });
    const meta = `${temp}.json`;
    await writeFile(meta, JSON.stringify({ size, mediaType }));
    await rename(meta, `${path}.json`);
    await rename(temp, path);
    return this.add({ digest, size, mediaType, path });
  }

  /** Stores small whole bytes (a manifest) already in memory, if they match `digest` and there is room. */
  async put(digest: string, bytes: Buffer, mediaType: string | undefined): Promise<StoredObject | undefined> {
    const existing = this.index.get(digest);
    if (existing) return existing;
    if (!matches(digest, bytes) || !this.reserve(bytes.length)) return undefined;
    const temp = this.tempPath();
    try {
      await writeFile(temp, bytes);
      return await this.commit(temp, digest, bytes.length, mediaType);
    } catch {
      await unlink(temp).catch(() => undefined);
      return undefined;
    } finally {
      this.unreserve(bytes.length);
    }
  }

  /**
   * Takes the lock that says this process fills `digest` (a shared directory has several); false
   * when another process holds it and refreshed it within `staleMs`. The returned function frees it.
   */
  async lock(digest: string, staleMs = 30_000): Promise<(() => Promise<void>) | undefined> {
    const path = join(this.dir, 'locks', digest.replace(':', '-'));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = await open(path, 'wx');
        await fd.close();
        return () => unlink(path).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
        const s = await stat(path).catch(() => undefined);
        if (s && Date.now() - s.mtimeMs < staleMs) return undefined;
        await unlink(path).catch(() => undefined); // a lock nobody refreshes: its process is gone
      }
    }
    return undefined;
  }

  private add(o: StoredObject): StoredObject {
    const existing = this.index.get(o.digest);
    if (existing) return existing;
    const e: Entry = { ...o, readers: 0 };
    this.index.set(o.digest, e);
    this.committed += o.size;
    return e;
  }

  /** Evicts least recently used objects nobody reads until at most `target` bytes are committed and reserved. */
  private evict(target: number): void {
    for (const [digest, e] of this.index) {
      if (this.committed + this.reserved <= target) return;
      if (e.readers > 0) continue;
      this.index.delete(digest);
      this.committed -= e.size;
      void unlink(e.path).catch(() => undefined);
      void unlink(`${e.path}.json`).catch(() => undefined);
      this.events.evicted?.(e);
    }
  }

  /** An object committed by another process sharing the directory. */
  private async adopt(digest: string): Promise<StoredObject | undefined> {
    const [algorithm] = digest.split(':');
    if (!algorithm || !VERIFIABLE.has(algorithm)) return undefined;
    const path = this.pathOf(digest);
    const [meta, s] = await Promise.all([readMeta(path), stat(path).catch(() => undefined)]);
    if (!meta || !s || s.size !== meta.size) return undefined;
    return this.add({ digest, size: meta.size, mediaType: meta.mediaType, path });
  }

  /** Rebuilds the index from the directory, oldest first (by access time). */
  private async scan(): Promise<void> {
    const found: (StoredObject & { used: number })[] = [];
    for (const algorithm of await readdir(join(this.dir, 'objects')).catch(() => [])) {
      for (const shard of await readdir(join(this.dir, 'objects', algorithm)).catch(() => [])) {
        for (const name of await readdir(join(this.dir, 'objects', algorithm, shard)).catch(() => [])) {
          if (name.endsWith('.json')) continue;
          const path = join(this.dir, 'objects', algorithm, shard, name);
          const [meta, s] = await Promise.all([readMeta(path), stat(path).catch(() => undefined)]);
          if (!meta || !s || s.size !== meta.size) {
            await Promise.all([unlink(path).catch(() => undefined), unlink(`${path}.json`).catch(() => undefined)]);
            continue;
          }
          found.push({ digest: `${algorithm}:${name}`, size: meta.size, mediaType: meta.mediaType, path, used: s.atimeMs });
        }
      }
    }
    for (const o of found.sort((a, b) => a.used - b.used)) this.add(o);
  }
}

async function readMeta(path: string): Promise<{ size: number; mediaType: string | undefined } | undefined> {
  try {
    const meta = JSON.parse(await readFile(`${path}.json`, 'utf8')) as { size?: unknown; mediaType?: unknown };
    if (typeof meta.size !== 'number') return undefined;
    return { size: meta.size, mediaType: typeof meta.mediaType === 'string' ? meta.mediaType : undefined };
  } catch {
    return undefined;
  }
}

/** True when `bytes` hash to `digest` (an algorithm the store can verify). */
export function matches(digest: string, bytes: Buffer): boolean {
  const [algorithm, hex] = digest.split(':');
  return algorithm !== undefined && VERIFIABLE.has(algorithm) && createHash(algorithm).update(bytes).digest('hex') === hex;
}
