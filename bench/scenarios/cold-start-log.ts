/** Counting the requests that reached the cold-start scenario's registry, from its access log. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The size of the log now: the mark to read from later. */
export const logSize = (file: string): number => statSync(file).size;

/** The log from byte `from` to its current end. */
export function readLog(file: string, from: number): { text: string; end: number } {
  const end = statSync(file).size;
  const buf = Buffer.alloc(end - from);
  const fd = openSync(file, 'r');
  readSync(fd, buf, 0, buf.length, from);
  closeSync(fd);
  return { text: buf.toString('utf8'), end };
}

/** Requests by "METHOD kind status", kind being /v2/, manifest, upload, blob or other. */
export function countLog(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g)) {
    const path = m[2]!;
    const kind = path === '/v2/' ? '/v2/' : path.includes('/manifests/') ? 'manifest' : path.includes('/blobs/uploads') ? 'upload' : path.includes('/blobs/') ? 'blob' : 'other';
    const k = `${m[1]} ${kind} ${m[3]}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/**
 * Upstream requests a proxy could have avoided: what it could not avoid without caching content
 * is one challenge probe, and one upstream request per client request for a manifest or blob
 * (3 per pull); and one token exchange.
 */
export function avoidable(upstream: Record<string, number>, exchanges: number, pulls: number): number {
  const sum = (keep: (k: string) => boolean): number =>
    Object.entries(upstream)
      .filter(([k]) => keep(k))
      .reduce((a, [, v]) => a + v, 0);
  const pings = sum((k) => k.includes(' /v2/ '));
  const unauthorized = sum((k) => k.endsWith(' 401'));
  const content = sum((k) => !k.includes(' /v2/ '));
  return Math.max(0, pings - 1) + Math.max(0, unauthorized - (pings > 0 ? 1 : 0)) + Math.max(0, content - 3 * pulls) + Math.max(0, exchanges - 1);
}
