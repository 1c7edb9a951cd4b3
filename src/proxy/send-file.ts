/**
 * Sends bytes [start, end] of a stored file to the client through a few reused buffers: each is
 * read into, written, and read into again once the client's socket has taken it (the write's
 * callback), so at most BUFFERS × CHUNK bytes wait on a client. A stream of fresh 1 MiB Buffers
 * instead leaves V8 tens of MiB of dead ones between collections and costs twice the CPU.
 *
 * The ends are relay.ts's: a client that takes nothing for `idleMs` while every buffer waits on
 * it is cut (reset); a client that goes away stops the reading; a read error, or a file shorter
 * than the range, resets the client connection (a cut body never looks complete).
 */
import { close, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { ByteRange } from '../cache/range.ts';
import type { RelayEnd } from './relay.ts';

const BUFFERS = 4;
const CHUNK = 1024 * 1024;

export function sendFile(path: string, range: ByteRange, res: ServerResponse, idleMs: number, done: (end: RelayEnd) => void): void {
  const free: Buffer[] = [];
  let made = 0;
  let position = range.start;
  let fd: number | undefined;
  let reading = false;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;

  const release = (): void => {
    if (fd === undefined || reading) return;
    close(fd, () => {});
    fd = undefined;
  };
  const finish = (end: RelayEnd): void => {
    if (ended) return;
    ended = true;
    if (idle) clearTimeout(idle);
    release();
    done(end);
  };
  const fail = (err: NodeJS.ErrnoException): void => {
    finish({ kind: 'upstream', err });
    res.destroy(err);
  };
  const stall = (): void => {
    finish({ kind: 'idle' });
    const socket = res.socket;
    if (socket) socket.resetAndDestroy();
    else res.destroy();
  };
  const taken = (buffer: Buffer): void => {
    free.push(buffer);
    if (idle) clearTimeout(idle);
    idle = undefined;
    pump();
  };
  const sent = (buffer: Buffer, n: number): void => {
    position += n;
    res.write(n === buffer.length ? buffer : buffer.subarray(0, n), () => taken(buffer));
    if (position > range.end) res.end();
    else pump();
  };
  // No bigger than the range: a manifest gets one buffer of its own size.
  const size = Math.min(CHUNK, range.end + 1 - range.start);
  const fresh = (): Buffer | undefined => {
    if (made === BUFFERS) return undefined;
    made++;
    return Buffer.allocUnsafeSlow(size);
  };
  function pump(): void {
    if (ended || reading || fd === undefined || position > range.end) return;
    const buffer = free.pop() ?? fresh();
    if (!buffer) {
      idle ??= setTimeout(stall, idleMs);
      return;
    }
    reading = true;
    read(fd, buffer, 0, Math.min(CHUNK, range.end + 1 - position), position, (err, n) => {
      reading = false;
      if (ended) return release();
      if (err) return fail(err);
      if (n === 0) return fail(Object.assign(new Error(`stored file ends ${range.end + 1 - position} bytes early`), { code: 'ETRUNCATED' }));
      sent(buffer, n);
    });
  }

  res.once('close', () => finish(res.writableFinished ? { kind: 'done' } : { kind: 'client' }));
  open(path, 'r', (err, opened) => {
    if (err) return fail(err);
    fd = opened;
    if (ended) return release();
    pump();
  });
}
