/**
 * Sending a stored file through reused buffers (src/proxy/send-file.ts): the bytes are exact
 * while the buffers cycle, and every end leaves no open file: done, a client that goes away, a
 * client that stops reading (cut after the idle bound), a file shorter than its range.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ByteRange } from '../../src/cache/range.ts';
import type { RelayEnd } from '../../src/proxy/relay.ts';
import { sendFile } from '../../src/proxy/send-file.ts';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'ocp-send-file-'));
const data = randomBytes(9 * MiB + 12345);
const file = join(dir, 'blob');
writeFileSync(file, data);

/** One server whose next response sends `range` of `path`; resolves how it ended. */
let server: Server;
let next: { path: string; range: ByteRange; idleMs: number; end: (e: RelayEnd) => void };
beforeAll(async () => {
  server = createServer((_req, res) => {
    const n = next;
    res.writeHead(200, { 'content-length': n.range.end - n.range.start + 1 });
    sendFile(n.path, n.range, res, n.idleMs, n.end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Descriptors of this process open on files of the test's directory. */
const openFiles = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed meanwhile
    }
  }).length;

function serve(range: ByteRange, o: { path?: string; idleMs?: number } = {}): { ended: Promise<RelayEnd>; response: Promise<IncomingMessage> } {
  let end!: (e: RelayEnd) => void;
  const ended = new Promise<RelayEnd>((r) => (end = r));
  next = { path: o.path ?? file, range, idleMs: o.idleMs ?? 10_000, end };
  const response = new Promise<IncomingMessage>((resolve, reject) => get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, resolve).on('error', reject));
  return { ended, response };
}

async function body(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('sendFile', () => {
  it('sends the exact bytes of the whole file and of a range, the buffers reused many times over', async () => {
    for (const range of [
      { start: 0, end: data.length - 1 },
      { start: 3 * MiB - 7, end: 8 * MiB + 3 },
      { start: 5, end: 5 },
    ]) {
      const { ended, response } = serve(range);
      const got = await body(await response);
      expect(sha(got)).toBe(sha(data.subarray(range.start, range.end + 1)));
      expect(await ended).toEqual({ kind: 'done' });
    }
    await expect.poll(openFiles, { timeout: 2000 }).toBe(0);
  });

  it('a client that goes away stops the reading and the file is closed', async () => {
    const { ended, response } = serve({ start: 0, end: data.length - 1 });
    const res = await response;
    await new Promise<void>((r) => res.once('data', () => r()));
    res.destroy();
    expect(await ended).toEqual({ kind: 'client' });
    await expect.poll(openFiles, { timeout: 2000 }).toBe(0);
  });

  it('a client that reads nothing is cut after the idle bound, its connection reset', async () => {
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(96 * MiB, 1)); // more than loopback's socket buffers hold
    const { ended, response } = serve({ start: 0, end: 96 * MiB - 1 }, { path: big, idleMs: 300 });
    const res = await response;
    res.pause();
    const started = performance.now();
    expect(await ended).toEqual({ kind: 'idle' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    const err = await new Promise<NodeJS.ErrnoException>((r) => res.on('error', r).resume());
    expect(err.code).toBe('ECONNRESET');
    await expect.poll(openFiles, { timeout: 2000 }).toBe(0);
  });

  it('a file shorter than its range fails the response instead of ending it early', async () => {
    const { ended, response } = serve({ start: 0, end: data.length + MiB });
    const res = await response;
    const failed = new Promise<Error>((r) => res.on('error', r).on('aborted', () => r(new Error('aborted'))));
    res.resume();
    const end = await ended;
    expect(end.kind).toBe('upstream');
    expect(end.kind === 'upstream' && end.err.code).toBe('ETRUNCATED');
    expect(await failed).toBeInstanceOf(Error);
    expect(res.complete).toBe(false);
    await expect.poll(openFiles, { timeout: 2000 }).toBe(0);
  });
});
