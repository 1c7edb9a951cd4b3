/** Reading a manifest PUT: the per-request bound, declared or chunked, and the budget all PUTs share. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/distribution/errors.ts';
import { ByteBudget, readManifest } from '../../src/proxy/endpoints/manifest-put.ts';

/** A request body in `chunks`, with a Content-Length when `declared`. */
function body(chunks: Buffer[], declared?: number): IncomingMessage {
  const r = Readable.from(chunks, { objectMode: false }) as unknown as IncomingMessage;
  (r as { headers: Record<string, string> }).headers = declared === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(declared) };
  return r;
}

async function refusal(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describe('readManifest', () => {
  const k = (n: number): Buffer => Buffer.alloc(n * 1024, 1);

  it('reads a body within the bounds, and gives its bytes back on release', async () => {
    const budget = new ByteBudget(100 * 1024);
    const chunked = await readManifest(body([k(2), k(3)]), 10 * 1024, budget);
    expect(chunked.body.length).toBe(5 * 1024);
    expect(budget.inUse).toBe(5 * 1024);
    const declared = await readManifest(body([k(4)], 4 * 1024), 10 * 1024, budget);
    expect(budget.inUse).toBe(9 * 1024);
    chunked.release();
    declared.release();
    expect(budget.inUse).toBe(0);
  });

  it('over the per-request bound: 413 MANIFEST_INVALID, declared (before reading) or chunked (in the middle), and nothing held', async () => {
    const budget = new ByteBudget(100 * 1024);
    for (const b of [body([k(11)], 11 * 1024), body([k(6), k(6)])]) {
      const e = await refusal(readManifest(b, 10 * 1024, budget));
      expect([e.status, e.code]).toEqual([413, 'MANIFEST_INVALID']);
    }
    expect(budget.inUse).toBe(0);
  });

  it('past the shared budget: 503 with Retry-After; a declared length is reserved whole, so it is refused unread', async () => {
    const budget = new ByteBudget(8 * 1024);
    const held = await readManifest(body([k(6)], 6 * 1024), 10 * 1024, budget);
    const chunks = [k(3)];
    const declared = await refusal(readManifest(body(chunks, 3 * 1024), 10 * 1024, budget));
    expect([declared.status, declared.code, declared.headers['retry-after']]).toEqual([503, 'UNAVAILABLE', '1']);
    const chunked = await refusal(readManifest(body([k(1), k(2)]), 10 * 1024, budget));
    expect(chunked.status).toBe(503);
    expect(budget.inUse).toBe(6 * 1024);
    held.release();
    expect(budget.inUse).toBe(0);
  });
});
