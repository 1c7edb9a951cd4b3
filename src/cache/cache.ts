/**
 * The pull-through cache: the store (store.ts), the fills in progress (one per digest per
 * process), and what the cache knows besides bytes:
 *
 * - confirmations: which connector's upstream said, with that connector's own credentials, that
 *   a repository holds a digest (a successful GET or HEAD of it, or a manifest of the repository
 *   listing it), each for `confirmMs`. A stored object is served for (connector, repository) only
 *   under a confirmation; otherwise the upstream is asked first. The store is shared by digest;
 *   who may see what is not.
 * - tags: the digest each (connector, repository, tag) last resolved to, kept on disk, for the
 *   minimum revalidation interval and for stale answers when the upstream fails.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { UpstreamResponse } from '../upstream/types.ts';
import { Fill, type Resume } from './fill.ts';
import { Store, type StoredObject } from './store.ts';

export interface CacheOptions {
  dir: string;
  maxBytes: number;
  /** How long an upstream's word that a repository holds a digest is taken: default 10 minutes. */
  confirmMs?: number;
  /** Serve the last known manifest of a tag when the upstream answers 429, 5xx or not at all: default true. */
  staleOnError?: boolean;
}

export interface TagRecord {
  digest: string;
  mediaType: string;
  /** ms since epoch of the upstream's last answer for the tag. */
  checkedAt: number;
}

/** Where a fill's bytes come from: the upstream, asked with the requesting connector's credentials. */
export interface FillSource {
  /** The blob GET, under the fill's own signal (never a client's: the fill outlives clients). */
  request: (signal: AbortSignal) => Promise<UpstreamResponse>;
  /** How to ask again from an offset once a read breaks, under the same signal. */
  resume: (signal: AbortSignal) => Resume;
  /** Gets the upstream's answer when nothing is filled, to pass on as it is. */
  answer: (up: UpstreamResponse) => void;
}

/** What the cache reports (metrics subscribe). */
export interface CacheEvents {
  fill: [connector: string, started: boolean];
  verifyFailed: [connector: string];
  evicted: [size: number];
  upstreamBytes: [connector: string, bytes: number];
}

const CONFIRM_MS = 10 * 60_000;
const MANIFEST_MEMO_BYTES = 32 * 1024 * 1024;

export class PullThroughCache extends EventEmitter<CacheEvents> {
  readonly store: Store;
  readonly staleOnError: boolean;
  private readonly fills = new Map<string, Fill>();
  /** Fills being started (their upstream request sent, no answer yet): later misses wait for them. */
  private readonly starting = new Map<string, Promise<Fill | undefined>>();
  private readonly confirmations: LRUCache<string, true>;
  private readonly tagMemo = new LRUCache<string, TagRecord>({ max: 100_000 });
  private readonly manifests = new LRUCache<string, Buffer>({ maxSize: MANIFEST_MEMO_BYTES, sizeCalculation: (b) => b.length || 1 });
  /** Bytes of objects each connector fetched or was confirmed for, by digest. */
  private readonly users = new Map<string, Set<string>>();

  private constructor(store: Store, options: CacheOptions) {
    super();
    this.store = store;
    this.staleOnError = options.staleOnError ?? true;
    this.confirmations = new LRUCache({ max: 200_000, ttl: options.confirmMs ?? CONFIRM_MS, ttlAutopurge: false });
  }

  static async open(options: CacheOptions): Promise<PullThroughCache> {
    let cache: PullThroughCache | undefined;
    const store = await Store.open(options.dir, options.maxBytes, { evicted: (o) => cache?.emit('evicted', o.size) });
    await mkdir(join(options.dir, 'tags'), { recursive: true });
    cache = new PullThroughCache(store, options);
    return cache;
  }

  get fillsInFlight(): number {
    return this.fills.size;
  }

  /** Clients reading fills in progress. */
  get waiters(): number {
    let n = 0;
    for (const f of this.fills.values()) n += f.readerCount;
    return n;
  }

  confirm(connector: string, repository: string, digest: string): void {
    this.confirmations.set(`${connector}\0${repository}\0${digest}`, true);
    const used = this.users.get(connector) ?? new Set<string>();
    this.users.set(connector, used.add(digest));
  }

  confirmed(connector: string, repository: string, digest: string): boolean {
    return this.confirmations.get(`${connector}\0${repository}\0${digest}`) === true;
  }

  /** Confirms, for (connector, repository), every digest a manifest names (config, layers, child manifests, subject). */
  confirmManifest(connector: string, repository: string, manifest: Buffer): void {
    for (const d of referencedDigests(manifest)) this.confirm(connector, repository, d);
  }

  /** Bytes in the store of objects `connector` fetched or was confirmed for. */
  async usage(connector: string): Promise<{ objects: number; bytes: number }> {
    let objects = 0;
    let bytes = 0;
    for (const d of this.users.get(connector) ?? []) {
      const o = this.store.peek(d);
      if (!o) continue;
      objects++;
      bytes += o.size;
    }
    return { objects, bytes };
  }

  /** A stored manifest's bytes (small: kept in memory too). */
  async manifestBytes(o: StoredObject): Promise<Buffer> {
    const memo = this.manifests.get(o.digest);
    if (memo) return memo;
    const bytes = await readFile(o.path);
    this.manifests.set(o.digest, bytes);
    return bytes;
  }

  fillOf(digest: string): Fill | undefined {
    return this.fills.get(digest);
  }

  /** A fill being started for `digest`, to wait for instead of asking the upstream again. */
  startingFill(digest: string): Promise<Fill | undefined> | undefined {
    return this.starting.get(digest);
  }

  /**
   * Starts the one fill of `digest` from `source`. Resolves to the running fill, or undefined when
   * the upstream did not answer 200 with a length, the store has no room, or another process
   * sharing the directory fills it; `source.answer` then gets the upstream's response.
   */
  startFill(digest: string, connector: string, source: FillSource): Promise<Fill | undefined> {
    const started = this.begin(digest, connector, source).finally(() => this.starting.delete(digest));
    this.starting.set(digest, started);
    return started;
  }

  private async begin(digest: string, connector: string, { request, resume, answer }: FillSource): Promise<Fill | undefined> {
    const abort = new AbortController();
    const up = await request(abort.signal);
    const size = Number(up.headers['content-length']);
    if (up.statusCode !== 200 || !Number.isSafeInteger(size)) {
      answer(up);
      return undefined;
    }
    // No room even after eviction, or another process sharing the directory fills it: the
    // answer streams through uncached.
    const reserved = this.store.reserve(size);
    const unlock = reserved ? await this.store.lock(digest) : undefined;
    if (!unlock) {
      if (reserved) this.store.unreserve(size);
      answer(up);
      this.emit('fill', connector, false);
      return undefined;
    }
    const fill = new Fill(digest, size, this.store.tempPath(), abort);
    this.fills.set(digest, fill);
    this.emit('fill', connector, true);
    let reported = 0;
    const report = fill.onProgress(() => {
      this.emit('upstreamBytes', connector, fill.written - reported);
      reported = fill.written;
    });
    // Readers still on the fill once it is committed keep the object from eviction.
    fill.done.then(
      (o) => {
        const release = this.store.hold(o.digest);
        if (release) fill.whenIdle(release);
      },
      () => undefined,
    );
    void fill.run(up, resume(abort.signal), this.store, undefined).finally(() => {
      report();
      this.fills.delete(digest);
      this.store.unreserve(size);
      void unlock();
      if (fill.failure && fill.failure.name === 'FillError') this.emit('verifyFailed', connector);
    });
    return fill;
  }

  /** The digest a tag last resolved to for a connector's repository. */
  async tag(connector: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    const key = tagKey(connector, repository, tag);
    const memo = this.tagMemo.get(key);
    if (memo) return memo;
    try {
      const record = JSON.parse(await readFile(this.tagPath(key), 'utf8')) as TagRecord;
      if (typeof record.digest !== 'string' || typeof record.mediaType !== 'string' || typeof record.checkedAt !== 'number') return undefined;
      this.tagMemo.set(key, record);
      return record;
    } catch {
      return undefined;
    }
  }

  async setTag(connector: string, repository: string, tag: string, record: TagRecord): Promise<void> {
    const key = tagKey(connector, repository, tag);
    this.tagMemo.set(key, record);
    await writeFile(this.tagPath(key), JSON.stringify(record)).catch(() => undefined);
  }

  private tagPath(key: string): string {
    return join(this.store.dir, 'tags', createHash('sha256').update(key).digest('hex'));
  }
}

function tagKey(connector: string, repository: string, tag: string): string {
  return `${connector}\0${repository}\0${tag}`;
}

/** The digests a manifest or index names: its config, layers, child manifests and subject. */
export function referencedDigests(manifest: Buffer): string[] {
  let m: unknown;
  try {
    m = JSON.parse(manifest.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof m !== 'object' || m === null) return [];
  const o = m as { config?: { digest?: unknown }; layers?: unknown; manifests?: unknown; subject?: { digest?: unknown }; blobs?: unknown };
  const out: string[] = [];
  const add = (d: unknown): void => void (typeof d === 'string' && out.push(d));
  add(o.config?.digest);
  add(o.subject?.digest);
  for (const list of [o.layers, o.manifests, o.blobs]) if (Array.isArray(list)) for (const e of list) add((e as { digest?: unknown } | null)?.digest);
  return out;
}
