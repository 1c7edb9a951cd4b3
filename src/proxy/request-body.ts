/**
 * A request body that stops arriving is cut: Node's own `requestTimeout` bounds a whole request,
 * which uploads of any size cannot live with, so the server runs with it off and this watches
 * each body instead. A body counts as stalled when no byte of it has arrived for `idleMs` while
 * its reader is ready for more; a reader that holds back (an upstream slow to take an upload)
 * never makes the client look stalled. Detection takes between `idleMs` and 1.25 × `idleMs`.
 */
import type { IncomingMessage } from 'node:http';

export function watchRequestBody(req: IncomingMessage, idleMs: number, onStall: () => void): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  let quietSince = performance.now();
  const timer = setInterval(
    () => {
      if (req.complete || req.destroyed) return stop();
      const now = performance.now();
      const read = socket.bytesRead;
      // Bytes arrived, or the reader has a full buffer: the client is not the one holding things up.
      if (read !== seen || req.readableLength >= req.readableHighWaterMark) {
        seen = read;
        quietSince = now;
        return;
      }
      if (now - quietSince < idleMs) return;
      stop();
      onStall();
    },
    Math.max(10, idleMs / 4),
  );
  timer.unref();
  const stop = (): void => {
    clearInterval(timer);
    req.off('end', stop);
    req.off('close', stop);
  };
  req.once('end', stop);
  req.once('close', stop);
}
