/**
 * Reading a fill as it grows, as a stream of one byte range: up to what is on disk (or still in
 * memory), then the reader waits for more. The stream follows its consumer's pace
 * (backpressure), and the store keeps the object while it is read. A committed object is sent
 * by src/proxy/send-file.ts.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Fill } from './fill.ts';
import type { ByteRange } from './range.ts';

const CHUNK = 1024 * 1024;

/** The fill's file: its temporary one, or where it went once committed. */
async function openFill(fill: Fill): Promise<FileHandle> {
  try {
    return await open(fill.temp, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return open((await fill.done).path, 'r');
  }
}

/**
 * Bytes [start, end] of a fill, as they reach its temporary file, the blob's last byte held back
 * until the fill is committed; fails when the fill does.
 */
export function readFill(fill: Fill, range: ByteRange): Readable {
  let file: FileHandle | undefined;
  let position = range.start;
  let stop: (() => void) | undefined;
  // One pump at a time reads; a request for more while it runs (or just as it ends) is kept in
  // `wanted`, so that none is lost.
  let pumping = false;
  let wanted = false;
  const leave = fill.join();
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      wanted = true;
      if (!pumping) void pump();
    },
    destroy(err, callback) {
      stop?.();
      leave();
      void (file?.close() ?? Promise.resolve()).then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
  async function fromDisk(length: number): Promise<Buffer> {
    file ??= await openFill(fill);
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await file.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  }
  /** Pushes what is there while the stream wants more; waits for the fill when caught up. */
  async function pump(): Promise<void> {
    pumping = true;
    try {
      while (wanted && !stream.destroyed) {
        wanted = false;
        if (fill.failure) throw fill.failure;
        if (position > range.end) {
          stream.push(null);
          return;
        }
        // The blob's last byte only once the fill is verified and committed.
        const limit = fill.committed ? range.end + 1 : Math.min(fill.written, range.end + 1, fill.size - 1);
        const available = limit - position;
        if (available > 0) {
          const chunk = fill.recent(position, Math.min(available, CHUNK)) ?? (await fromDisk(Math.min(available, CHUNK)));
          position += chunk.length;
          wanted = stream.push(chunk) || wanted;
          continue;
        }
        await new Promise<void>((resolve) => {
          stop = fill.onProgress(() => {
            stop?.();
            stop = undefined;
            resolve();
          });
        });
        wanted = true;
      }
    } catch (err) {
      stream.destroy(err as Error);
    } finally {
      pumping = false;
    }
    if (wanted && !stream.destroyed) void pump();
  }
  return stream;
}
