/** Admission slots: a slot per upstream connection, a line with a wait bound and a length bound, released when the body closes. */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { admissionLayer, Bulkhead } from '../../src/upstream/admission.ts';
import { Saturated } from '../../src/upstream/errors.ts';
import type { UpstreamRequest } from '../../src/upstream/types.ts';

describe('Bulkhead', () => {
  it('grants slots up to its size, then in line in order of arrival as slots come free', async () => {
    const b = new Bulkhead('bulk', 2, 1_000);
    const r1 = await b.acquire();
    const r2 = await b.acquire();
    const order: number[] = [];
    const w3 = b.acquire().then((r) => (order.push(3), r));
    const w4 = b.acquire().then((r) => (order.push(4), r));
    expect([b.inUse, b.waiting]).toEqual([2, 2]);
    r1();
    r1(); // idempotent: one slot given back once
    const r3 = await w3;
    expect([b.inUse, b.waiting, order]).toEqual([2, 1, [3]]);
    r2();
    (await w4)();
    r3();
    expect([b.inUse, b.waiting, order]).toEqual([0, 0, [3, 4]]);
  });

  it('a request that waits past the bound is Saturated; the line is bounded at 4 × slots; an aborted one leaves the line', async () => {
    const b = new Bulkhead('small', 1, 50);
    const held = await b.acquire();
    const started = Date.now();
    const err = await b.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Saturated);
    expect((err as Saturated).waitedMs).toBeGreaterThanOrEqual(45);
    expect(Date.now() - started).toBeLessThan(2_000);
    const waiting = Array.from({ length: 4 }, () => b.acquire().catch((e: unknown) => e));
    expect(await b.acquire().catch((e: unknown) => e)).toBeInstanceOf(Saturated); // the fifth in line is refused at once
    held();
    await Promise.all(waiting);
    expect(b.waiting).toBe(0);
    const other = new Bulkhead('small', 1, 5_000);
    const slot = await other.acquire();
    const ac = new AbortController();
    const aborted = other.acquire(ac.signal).catch((e: unknown) => e);
    expect(other.waiting).toBe(1);
    ac.abort(new Error('client gone'));
    expect(((await aborted) as Error).message).toBe('client gone');
    expect(other.waiting).toBe(0);
    slot();
    expect(other.inUse).toBe(0);
  });
});

describe('admissionLayer', () => {
  const req: UpstreamRequest = { method: 'GET', path: '/v2/a/blobs/x', headers: [], body: null, scopes: [], traffic: 'bulk' };
  it('holds the slot until the response body closes, and gives it back when the exchange fails', async () => {
    const bulk = new Bulkhead('bulk', 1, 1_000);
    const layer = admissionLayer({ bulk, small: new Bulkhead('small', 1, 1_000) });
    const body = new Readable({ read() {} });
    const res = await layer(async () => ({ statusCode: 200, headers: {}, body }))(req);
    expect(bulk.inUse).toBe(1);
    const closed = once(res.body, 'close');
    res.body.destroy();
    await closed;
    expect(bulk.inUse).toBe(0);
    await expect(layer(async () => Promise.reject(new Error('refused')))(req)).rejects.toThrow('refused');
    expect(bulk.inUse).toBe(0);
  });
});
