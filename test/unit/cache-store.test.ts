/** The cache's pure and file-level parts: Range, the store (commit, index rebuild, eviction), a fill (verify, resume, readers). */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { referencedDigests } from '../../src/cache/cache.ts';
import { Fill } from '../../src/cache/fill.ts';
import { parseRange } from '../../src/cache/range.ts';
import { readFill } from '../../src/cache/reader.ts';
import { Store } from '../../src/cache/store.ts';
import type { UpstreamResponse } from '../../src/upstream/types.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ocp-store-'));
  dirs.push(d);
  return d;
}
const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const body = (chunks: Buffer[]): Readable => Readable.from(chunks, { objectMode: false });
const response = (chunks: Buffer[], size: number): UpstreamResponse => ({ statusCode: 200, headers: { 'content-length': String(size) }, body: body(chunks) });

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('parseRange', () => {
  const cases: [header: string | undefined, expected: ReturnType<typeof parseRange>][] = [
    [undefined, { kind: 'whole' }],
    ['bytes=0-9', { kind: 'part', range: { start: 0, end: 9 } }],
    ['bytes=90-', { kind: 'part', range: { start: 90, end: 99 } }],
    ['bytes=-10', { kind: 'part', range: { start: 90, end: 99 } }],
    ['bytes=-1000', { kind: 'part', range: { start: 0, end: 99 } }],
    ['bytes=50-5000', { kind: 'part', range: { start: 50, end: 99 } }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9-0', { kind: 'whole' }],
    ['bytes=0-1,5-6', { kind: 'whole' }],
    ['items=0-1', { kind: 'whole' }],
    ['bytes=-', { kind: 'whole' }],
  ];
  it.each(cases)('%s of 100 bytes', (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});

describe('Store', () => {
  it('commits whole verified bytes with a sidecar, rebuilds its index at start-up and cleans temporary files', async () => {
    const d = dir();
    const store = await Store.open(d, 1 << 20);
    const m = Buffer.from('{"schemaVersion":2}');
    const o = await store.put(digestOf(m), m, 'application/vnd.oci.image.manifest.v1+json');
    expect(o).toMatchObject({ digest: digestOf(m), size: m.length, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(await store.put('sha256:' + '0'.repeat(64), m, 'x')).toBeUndefined(); // not the bytes of that digest
    writeFileSync(join(d, 'tmp', 'left-by-a-crash'), 'partial');
    mkdirSync(join(d, 'objects', 'sha256', 'ff'), { recursive: true });
    writeFileSync(join(d, 'objects', 'sha256', 'ff', 'f'.repeat(64)), 'no sidecar');
    const again = await Store.open(d, 1 << 20);
    expect([again.objects, again.size]).toEqual([1, m.length]);
    expect((await again.lookup(digestOf(m)))?.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(readdirSync(join(d, 'tmp'))).toEqual([]);
    expect(existsSync(join(d, 'objects', 'sha256', 'ff', 'f'.repeat(64)))).toBe(false);
  });

  it('evicts the least recently used objects nobody reads, down to 90%, and never one being read', async () => {
    const store = await Store.open(dir(), 100);
    const blobs = [0, 1, 2].map((i) => Buffer.alloc(30, i));
    for (const b of blobs) await store.put(digestOf(b), b, undefined);
    await store.lookup(digestOf(blobs[0]!)); // 0 is now the most recent; 1 the least
    const release = store.hold(digestOf(blobs[1]!))!;
    expect(store.reserve(30)).toBe(true); // 90 + 30 > 100: make room down to 60 (excluding the 30 coming)
    expect(store.peek(digestOf(blobs[1]!))).toBeDefined(); // being read: kept
    expect(store.peek(digestOf(blobs[2]!))).toBeUndefined(); // the least recently used one not being read: gone
    expect(store.size).toBe(60);
    store.unreserve(30);
    release();
    expect(store.reserve(101)).toBe(false); // larger than the bound: never
  });

  it('finds objects another process committed to a shared directory, and lets one process at a time fill a digest', async () => {
    const d = dir();
    const a = await Store.open(d, 1 << 20);
    const b = await Store.open(d, 1 << 20);
    const m = Buffer.from('shared');
    await a.put(digestOf(m), m, undefined);
    expect((await b.lookup(digestOf(m)))?.size).toBe(m.length);
    const unlock = await a.lock(digestOf(m));
    expect(unlock).toBeDefined();
    expect(await b.lock(digestOf(m))).toBeUndefined();
    await unlock!();
    expect(await b.lock(digestOf(m))).toBeDefined();
  });
});

describe('Fill', () => {
  const blob = randomBytes(3 * 1024 * 1024);
  const chunks = (b: Buffer, n: number): Buffer[] => Array.from({ length: n }, (_, i) => b.subarray((i * b.length) / n, ((i + 1) * b.length) / n));

  it('commits what matches the digest, while readers read it as it grows', async () => {
    const store = await Store.open(dir(), 1 << 30);
    const fill = new Fill(digestOf(blob), blob.length, store.tempPath(), new AbortController());
    const early = readFill(fill, { start: 0, end: blob.length - 1 });
    const part = readFill(fill, { start: 1000, end: 1999 });
    const run = fill.run(response(chunks(blob, 12), blob.length), async () => undefined, store, undefined);
    const [whole, some] = await Promise.all([collect(early), collect(part), run]);
    expect(whole.equals(blob)).toBe(true);
    expect(some.equals(blob.subarray(1000, 2000))).toBe(true);
    expect((await fill.done).path).toBe(store.pathOf(digestOf(blob)));
    expect(store.objects).toBe(1);
  });

  it('bytes that do not match the digest, or fewer than announced, are never committed, and readers fail', async () => {
    const store = await Store.open(dir(), 1 << 30);
    for (const [what, sent, size] of [
      ['wrong bytes', Buffer.from(blob).fill(7, 100, 200), blob.length],
      ['a short body', blob.subarray(0, 1000), blob.length],
    ] as const) {
      const fill = new Fill(digestOf(blob), size, store.tempPath(), new AbortController());
      const reader = collect(readFill(fill, { start: 0, end: size - 1 }));
      await fill.run(response([sent], size), async () => undefined, store, undefined);
      expect([what, fill.failure?.name]).toEqual([what, 'FillError']);
      await expect(reader).rejects.toThrow();
      expect(await store.lookup(digestOf(blob))).toBeUndefined();
      expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
    }
  });

  it('an upstream read that breaks off resumes with a Range from where it stopped', async () => {
    const store = await Store.open(dir(), 1 << 30);
    const broken = new Readable({
      read() {
        this.push(blob.subarray(0, 1_000_000));
        this.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
      },
    });
    const asked: number[] = [];
    const fill = new Fill(digestOf(blob), blob.length, store.tempPath(), new AbortController());
    await fill.run(
      { statusCode: 200, headers: {}, body: broken },
      async (offset) => (asked.push(offset), response([blob.subarray(offset)], blob.length - offset)),
      store,
      undefined,
    );
    expect(fill.failure).toBeUndefined();
    expect(asked).toEqual([1_000_000]);
    expect(await store.lookup(digestOf(blob))).toBeDefined();
  });

  it('a fill given up fails its readers and leaves nothing behind', async () => {
    const store = await Store.open(dir(), 1 << 30);
    const abort = new AbortController();
    const fill = new Fill(digestOf(blob), blob.length, store.tempPath(), abort);
    const slow = new Readable({ read() {} });
    slow.push(blob.subarray(0, 100));
    const run = fill.run({ statusCode: 200, headers: {}, body: slow }, async () => undefined, store, undefined);
    const reader = collect(readFill(fill, { start: 0, end: blob.length - 1 }));
    await new Promise((r) => setTimeout(r, 50));
    fill.cancel('test');
    slow.destroy();
    await run;
    await expect(reader).rejects.toThrow();
    expect(readdirSync(join(store.dir, 'tmp'))).toEqual([]);
  });
});

describe('referencedDigests', () => {
  it('names the config, layers, child manifests and subject', () => {
    const m = Buffer.from(JSON.stringify({ config: { digest: 'sha256:c' }, layers: [{ digest: 'sha256:l1' }, { digest: 'sha256:l2' }], subject: { digest: 'sha256:s' } }));
    expect(referencedDigests(m).sort()).toEqual(['sha256:c', 'sha256:l1', 'sha256:l2', 'sha256:s']);
    expect(referencedDigests(Buffer.from(JSON.stringify({ manifests: [{ digest: 'sha256:a' }, null, { digest: 7 }] })))).toEqual(['sha256:a']);
    expect(referencedDigests(Buffer.from('not json'))).toEqual([]);
  });
});
