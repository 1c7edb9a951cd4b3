/**
 * One fill: a blob fetched from the upstream once, into a temporary file of the store, while any
 * number of clients read it as it grows (reader.ts). The fill runs at the upstream's pace, not a
 * client's: a slow reader only reads behind it, and a client that leaves does not stop it. Nobody
 * waiting any more, it goes on for at most ORPHAN_MS and only while at most ORPHAN_MAX_BYTES are
 * left to fetch. A read the upstream breaks off resumes with `Range` where it stopped (up to
 * RESUMES times). The bytes are hashed as they are written: the file is committed only when the
 * hash matches the digest and the size the upstream announced; otherwise it is deleted and every
 * reader fails (their clients' connections are reset, never a short body that looks whole).
 * Readers get every byte as it arrives but the blob's last one, which waits for the commit: a
 * client never holds a complete body that was not verified.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { discard, type UpstreamResponse } from '../upstream/types.ts';
import type { Store, StoredObject } from './store.ts';

export const ORPHAN_MS = 120_000;
/**
 * The newest bytes of a fill are also kept in memory, so that the clients close behind it (a
 * thundering herd of pulls) read them without a disk read each (which would also queue them,
 * and the fill's own writes, in libuv's small thread pool).
 */
export const WINDOW_BYTES = 8 * 1024 * 1024;
export const ORPHAN_MAX_BYTES = 2 * 1024 * 1024 * 1024;
const RESUMES = 3;

/** Asks the upstream for the blob again from `offset` (a `Range` request); undefined when it cannot. */
export type Resume = (offset: number) => Promise<UpstreamResponse | undefined>;

export class FillError extends Error {
  override readonly name = 'FillError';
}

export class Fill {
  readonly digest: string;
  readonly size: number;
  readonly temp: string;
  /** Bytes on disk, readable by readers. */
  written = 0;
  /** Verified and renamed into the store: only now may a reader deliver the blob's last byte. */
  committed = false;
  /** The newest chunks on disk, starting at `windowStart` (at most WINDOW_BYTES). */
  private window: Buffer[] = [];
  private windowStart = 0;
  /** Settles when the fill is committed (the stored object) or failed. */
  readonly done: Promise<StoredObject>;
  failure: Error | undefined;
  private readers = 0;
  private orphan: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly abort: AbortController;
  private settle!: { ok: (o: StoredObject) => void; fail: (e: Error) => void };

  /** `abort`: what the fill's upstream requests run under (never a client's signal). */
  constructor(digest: string, size: number, temp: string, abort: AbortController) {
    this.digest = digest;
    this.size = size;
    this.temp = temp;
    this.abort = abort;
    this.done = new Promise<StoredObject>((ok, fail) => (this.settle = { ok, fail }));
    this.done.catch(() => undefined); // readers see the failure through `failure`
  }

  /** Clients reading the fill now. */
  get readerCount(): number {
    return this.readers;
  }

  get finished(): boolean {
    return this.failure !== undefined || this.written === this.size;
  }

  /** Calls `listener` whenever more bytes are on disk or the fill ends; returns its removal. */
  onProgress(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` once nobody reads the fill any more (at once when nobody does now). */
  whenIdle(listener: () => void): void {
    if (this.readers === 0) listener();
    else this.idle.push(listener);
  }

  private idle: (() => void)[] = [];

  /** A client reads this fill from now on; the returned function says it stopped. */
  join(): () => void {
    this.readers++;
    if (this.orphan) clearTimeout(this.orphan);
    this.orphan = undefined;
    let joined = true;
    return () => {
      if (!joined) return;
      joined = false;
      if (--this.readers > 0) return;
      for (const l of this.idle.splice(0)) l();
      this.orphaned();
    };
  }

  /** Writes the upstream body (and resumed ones) to the temporary file, verifies and commits it. */
  async run(first: UpstreamResponse, resume: Resume, store: Store, mediaType: string | undefined): Promise<void> {
    const [algorithm, hex] = this.digest.split(':') as [string, string];
    const hash = createHash(algorithm);
    let file: FileHandle | undefined;
    try {
      file = await open(this.temp, 'w');
      await this.copy(first.body, file, hash, resume);
      await file.close();
      file = undefined;
      if (hash.digest('hex') !== hex) throw new FillError(`the upstream's bytes do not match ${this.digest}`);
      const stored = await store.commit(this.temp, this.digest, this.size, mediaType);
      this.committed = true;
      this.settle.ok(stored);
      this.emit();
    } catch (err) {
      await file?.close().catch(() => undefined);
      await unlink(this.temp).catch(() => undefined);
      this.fail(err instanceof Error ? err : new FillError(String(err)));
    }
  }

  /** Gives the fill up: its upstream request stops, readers fail. */
  cancel(reason: string): void {
    this.abort.abort(new FillError(reason));
  }

  private async copy(body: Readable, file: FileHandle, hash: Hash, resume: Resume): Promise<void> {
    let source = body;
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const chunk of source) {
          const b = chunk as Buffer;
          if (this.written + b.length > this.size) throw new FillError(`the upstream sent more than the ${this.size} bytes it announced`);
          hash.update(b);
          await file.write(b, 0, b.length, this.written);
          this.remember(b);
          this.written += b.length;
          this.emit();
        }
        if (this.written !== this.size) throw new FillError(`the upstream's body ended after ${this.written} of ${this.size} bytes`);
        return;
      } catch (err) {
        discard(source);
        if (this.abort.signal.aborted) throw this.abort.signal.reason;
        if (err instanceof FillError || resumes >= RESUMES) throw err;
        const next = await resume(this.written).catch(() => undefined);
        if (!next) throw err;
        source = next.body;
      }
    }
  }

  /** Bytes from `position` still in memory (up to `max`), or undefined when they have left the window. */
  recent(position: number, max: number): Buffer | undefined {
    if (position < this.windowStart || position >= this.written) return undefined;
    let at = this.windowStart;
    for (const chunk of this.window) {
      if (position < at + chunk.length) return chunk.subarray(position - at, Math.min(chunk.length, position - at + max));
      at += chunk.length;
    }
    return undefined;
  }

  private remember(chunk: Buffer): void {
    this.window.push(chunk);
    let kept = this.written + chunk.length - this.windowStart;
    while (kept > WINDOW_BYTES && this.window.length > 1) {
      const dropped = this.window.shift()!;
      this.windowStart += dropped.length;
      kept -= dropped.length;
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.window = [];
    if (this.orphan) clearTimeout(this.orphan);
    this.settle.fail(err);
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  private orphaned(): void {
    if (this.finished) return;
    if (this.size - this.written > ORPHAN_MAX_BYTES) {
      this.cancel('nobody reads it any more, and too much is left to fetch');
      return;
    }
    this.orphan = setTimeout(() => this.cancel(`nobody read it for ${ORPHAN_MS} ms`), ORPHAN_MS);
    this.orphan.unref();
  }
}
