/**
 * The test data a run seeds: the random bytes the blobs are cut from, the image the manifest
 * scenarios read, the GET scenarios' blobs, and the upload source file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Image } from '../../test/helpers/oci.ts';
import type { TokenServer } from '../../test/helpers/token-server.ts';
import { MiB, TOKEN_REPOS, USER } from './constants.ts';
import type { Sizes } from './options.ts';
import { ensureBlob, pushImage } from './registry-api.ts';
import type { Registry } from './servers.ts';

export interface Digests {
  mono: string;
  chunked: string;
  conc: string;
  small: string;
}

/**
 * `sizes.mono` bytes: a 64 MiB random tile repeated (random so that nothing compresses it,
 * tiled so that making it is quick); the prefixes of each blob size are the other blobs.
 */
export function makeData(sizes: Sizes): { data: Buffer; digests: Digests } {
  const size = sizes.mono;
  const t0 = performance.now();
  const tile = randomBytes(64 * MiB);
  const data = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += tile.length) tile.copy(data, off, 0, Math.min(tile.length, size - off));
  const h = createHash('sha256');
  const at: Record<number, string> = {};
  const marks = [sizes.small, sizes.concEach, sizes.chunked, sizes.mono].sort((a, b) => a - b);
  let pos = 0;
  for (const m of marks) {
    if (m > pos) h.update(data.subarray(pos, m));
    pos = Math.max(pos, m);
    at[m] = 'sha256:' + h.copy().digest('hex');
  }
  console.log(`data: ${size / MiB} MiB of random bytes (a 64 MiB random tile repeated), hashed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { data, digests: { mono: at[sizes.mono]!, chunked: at[sizes.chunked]!, conc: at[sizes.concEach]!, small: at[sizes.small]! } };
}

/** Seeds the image (bench/image and the token scenario's repositories); returns a bearer for them. */
export async function seedImages(ts: TokenServer, open: Registry, image: Image, work: string): Promise<string> {
  const t0 = performance.now();
  await pushImage(open.url, 'bench/image', image);
  for (let i = 0; i < TOKEN_REPOS; i++) await pushImage(open.url, `bench/image-${i}`, image);
  const bearer = ts.issueToken({
    subject: USER.username,
    expiresIn: 3600,
    access: ['bench/image', 'bench/upload', ...Array.from({ length: TOKEN_REPOS }, (_, i) => `bench/image-${i}`)].map((name) => ({
      type: 'repository',
      name,
      actions: ['pull', 'push'],
    })),
  });
  console.log(`seeded images in ${((performance.now() - t0) / 1000).toFixed(1)} s; work directory ${work}`);
  return bearer;
}

/** What the GET seeding needs of the run's environment. */
interface BlobSource {
  open: Registry;
  data: Buffer;
  digests: Digests;
  blobFile: string;
}

/** Writes the mono blob to a file (tmpfs) for the upload scenario's curl -T. */
export function writeBlobFile(env: BlobSource): void {
  writeFileSync(env.blobFile, env.data);
}

/** Seeds the blobs the GET scenarios read (the mono and concurrent ones) unless present. */
export async function seedGetBlobs(env: BlobSource, sizes: Sizes): Promise<void> {
  await ensureBlob(env.open.url, 'bench/upload', env.data, env.digests.mono);
  await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, sizes.concEach), env.digests.conc);
}
