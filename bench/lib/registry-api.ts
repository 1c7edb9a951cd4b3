/** Distribution API calls through undici: starting an upload, seeding blobs and images. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Agent, request } from 'undici';
import { type Image, MT, sha256 } from '../../test/helpers/oci.ts';

/** The upload URL `location` (relative to `origin`) with `digest=` added, for the closing PUT. */
export function withDigest(location: string, origin: string, digest: string): string {
  const abs = new URL(location, origin).toString();
  return abs + (abs.includes('?') ? '&' : '?') + 'digest=' + encodeURIComponent(digest);
}

/** POST <path>/blobs/uploads/; returns the absolute upload URL. */
export async function startUpload(origin: string, path: string, headers: Record<string, string>, agent?: Agent): Promise<string> {
  const res = await request(`${origin}${path}/blobs/uploads/`, { method: 'POST', headers: { ...headers, 'content-length': '0' }, ...(agent ? { dispatcher: agent } : {}) });
  const body = await res.body.text();
  const loc = res.headers['location'];
  if (res.statusCode !== 202 || typeof loc !== 'string') throw new Error(`POST ${origin}${path}/blobs/uploads/: ${res.statusCode} ${body.slice(0, 300)}`);
  return new URL(loc, origin).toString();
}

/** Puts a blob into a registry directly through the API (monolithic), unless it is there. */
export async function ensureBlob(origin: string, repo: string, data: Buffer, digest: string, headers: Record<string, string> = {}): Promise<void> {
  const head = await request(`${origin}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
  await head.body.dump();
  if (head.statusCode === 200) return;
  const loc = await startUpload(origin, `/v2/${repo}`, headers);
  const res = await request(withDigest(loc, origin, digest), {
    method: 'PUT',
    body: data,
    headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`seeding ${repo}@${digest}: ${res.statusCode} ${text.slice(0, 300)}`);
}

/** Pushes an image's blobs and its manifest as tag v1. */
export async function pushImage(origin: string, repo: string, image: Image): Promise<void> {
  for (const b of [image.config, ...image.layers]) await ensureBlob(origin, repo, b, sha256(b));
  const res = await request(`${origin}/v2/${repo}/manifests/v1`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MT.manifest } });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`manifest ${repo}: ${res.statusCode} ${text}`);
}

/** PUTs a blob made of `parts` in one request (streamed, nothing copied); returns its digest. */
export async function putBlobParts(origin: string, repo: string, parts: Buffer[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  const digest = 'sha256:' + h.digest('hex');
  const size = parts.reduce((a, p) => a + p.length, 0);
  const loc = await startUpload(origin, `/v2/${repo}`, {});
  const res = await request(withDigest(loc, origin, digest), {
    method: 'PUT',
    body: Readable.from(parts),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`seeding ${repo}@${digest}: ${res.statusCode} ${text.slice(0, 300)}`);
  return digest;
}
