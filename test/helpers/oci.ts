/** Builds OCI image layouts on disk (for skopeo's `oci:` transport) and raw blobs for HTTP tests. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

export const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A one-file tar archive (ustar), gzipped: a layer any tool accepts. */
export function tarLayer(fileName: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512, 0);
  header.write(fileName, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
  return gzipSync(Buffer.concat([header, content, pad, Buffer.alloc(1024, 0)]));
}

export interface Image {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  manifestDigest: string;
  descriptor: Descriptor;
}

export function makeImage(arch = 'amd64', layerSizes: number[] = [4096]): Image {
  const layers = layerSizes.map((n, i) => tarLayer(`file${i}.bin`, randomBytes(n)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(gunzipSync(l))) },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: { mediaType: MT.config, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MT.layer, digest: sha256(l), size: l.length })),
    }),
  );
  const manifestDigest = sha256(manifest);
  return {
    config,
    layers,
    manifest,
    manifestDigest,
    descriptor: { mediaType: MT.manifest, digest: manifestDigest, size: manifest.length, platform: { architecture: arch, os: 'linux' } },
  };
}

export function makeIndex(images: Image[]): { index: Buffer; digest: string } {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: images.map((i) => i.descriptor) }));
  return { index, digest: sha256(index) };
}

/** Writes an OCI image layout holding the images (as an index when more than one), tagged `tag`. */
export function writeLayout(images: Image[], tag = 'latest'): { dir: string; ref: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ocp-layout-'));
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): void => writeFileSync(join(blobs, sha256(b).slice(7)), b);
  for (const img of images) {
    put(img.config);
    img.layers.forEach(put);
    put(img.manifest);
  }
  let top: Descriptor;
  if (images.length === 1) {
    top = { ...images[0]!.descriptor };
    delete top.platform;
  } else {
    const { index, digest } = makeIndex(images);
    put(index);
    top = { mediaType: MT.index, digest, size: index.length };
  }
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { dir, ref: `oci:${dir}:${tag}` };
}

/** Pushes a blob to a registry (or through a proxy) at `base`: POST, then one PUT with the body; returns its digest. */
export async function pushBlob(base: string, repo: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`POST upload: ${start.status}`);
  const location = new URL(start.headers.get('location')!, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status}`);
  return digest;
}

/** Pushes an image's blobs and its manifest under `tag`. */
export async function pushImage(base: string, repo: string, tag: string, image: Image): Promise<void> {
  await pushBlob(base, repo, image.config);
  for (const l of image.layers) await pushBlob(base, repo, l);
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MT.manifest }, body: image.manifest });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`PUT manifest: ${res.status}`);
}
