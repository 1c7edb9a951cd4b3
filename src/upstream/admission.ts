/**
 * Admission: the outermost layer of a connector's chain. Each traffic class (types.ts) has a
 * fixed number of slots, one per upstream connection of its pool; a request holds one from
 * before it is sent (token exchange and redirects included) until its response body is done.
 * When all are taken, a request waits in line, at most `waitMs` (then Saturated: 503 with
 * Retry-After for the client, never silence), and at most `4 × slots` wait at all. Because no
 * request is ever dispatched without a slot, undici's own queue stays empty: nothing waits
 * where no deadline applies. Blob transfers and small requests have separate slots, so stalled
 * transfers can never hold up a manifest GET.
 */
import { Saturated } from './errors.ts';
import type { Layer, Traffic, UpstreamResponse } from './types.ts';

interface Waiter {
  grant: (release: () => void) => void;
  fail: (err: unknown) => void;
}

export class Bulkhead {
  private active = 0;
  private readonly queue: Waiter[] = [];
  readonly traffic: Traffic;
  readonly slots: number;
  readonly waitMs: number;

  constructor(traffic: Traffic, slots: number, waitMs: number) {
    this.traffic = traffic;
    this.slots = slots;
    this.waitMs = waitMs;
  }

  /** Slots in use and requests waiting, for metrics. */
  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** A slot: its release function, now or once one comes free; rejects with Saturated past the wait bound. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.slots) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.slots * 4) return Promise.reject(new Saturated(this.traffic, this.slots, 0));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const leave = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(waiter);
        if (i !== -1) this.queue.splice(i, 1);
      };
      const waiter: Waiter = {
        grant: (release) => {
          leave();
          resolve(release);
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.fail(signal!.reason);
      const timer = setTimeout(() => waiter.fail(new Saturated(this.traffic, this.slots, Math.round(performance.now() - started))), this.waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** A release function for one held slot: hands it to the next in line, or frees it. Idempotent. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue[0];
      if (next) next.grant(this.releaser());
      else this.active--;
    };
  }
}

/** Holds a slot of the request's class while it is sent and until its response body closes. */
export function admissionLayer(bulkheads: Readonly<Record<Traffic, Bulkhead>>): Layer {
  return (next) => async (req) => {
    const release = await bulkheads[req.traffic].acquire(req.signal ?? undefined);
    let res: UpstreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      release();
      throw err;
    }
    if (res.body.destroyed) release();
    else res.body.once('close', release);
    return res;
  };
}
