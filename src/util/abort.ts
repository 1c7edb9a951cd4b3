/**
 * Waiting on a shared promise with a deadline of one's own: `untilAborted(p, signal)` settles as
 * `p` does, or rejects with the signal's reason as soon as it aborts (`p` goes on for whoever
 * else waits on it). With `AbortSignal.timeout(ms)` it is a timeout that holds whether or not
 * the work behind `p` honours a signal; with `AbortSignal.any([...])`, several at once.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
