/**
 * Streams an upstream body to the client with backpressure. Either side failing ends the other:
 * an upstream error resets the client connection (a cut body never looks complete), a client
 * that goes away stops the upstream read. A client that reads nothing for `idleMs` while the
 * proxy has bytes for it is cut (so a paused reader cannot hold an upstream connection); one
 * that keeps reading, however slowly, never is.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

export type RelayEnd = { kind: 'done' } | { kind: 'upstream'; err: NodeJS.ErrnoException } | { kind: 'client' } | { kind: 'idle' };

export function relay(src: Readable, res: ServerResponse, idleMs: number, done: (end: RelayEnd) => void, head?: Buffer): void {
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  const end = (e: RelayEnd): void => {
    if (ended) return;
    ended = true;
    if (idle) clearTimeout(idle);
    done(e);
  };
  const stall = (): void => {
    end({ kind: 'idle' });
    src.destroy();
    // A reset, not a close: the kernel would otherwise keep the unread bytes queued for a peer
    // that does not read, on a connection the proxy has let go of.
    const socket = res.socket;
    if (socket) socket.resetAndDestroy();
    else res.destroy();
  };
  const write = (chunk: Buffer): void => {
    if (res.write(chunk)) return;
    src.pause();
    idle ??= setTimeout(stall, idleMs);
  };
  res.on('drain', () => {
    if (idle) clearTimeout(idle);
    idle = undefined;
    src.resume();
  });
  src.on('data', write);
  src.once('end', () => {
    res.end();
  });
  src.on('error', (err: NodeJS.ErrnoException) => {
    end({ kind: 'upstream', err });
    res.destroy(err);
  });
  res.once('close', () => {
    if (res.writableFinished) return end({ kind: 'done' });
    if (!src.destroyed) src.destroy();
    end({ kind: 'client' });
  });
  // Whoever read the first part (tag lists) may have paused the body, or seen it end already.
  if (src.readableEnded) {
    if (head?.length) res.write(head);
    res.end();
  } else if (head?.length && !res.write(head)) {
    src.pause();
    idle ??= setTimeout(stall, idleMs);
  } else src.resume();
}
