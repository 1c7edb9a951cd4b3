/**
 * In path mode a tag list's `name` field carries the connector prefix back, like Location and
 * Link, so that `<name>:<tag>` is a reference the client can use. Lists are small JSON bodies:
 * read up to a bound; a larger or non-JSON body is passed through untouched.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export const TAG_LIST_MAX_BYTES = 8 * 1024 * 1024;

export interface Rewritten {
  /** The body to send: rewritten, or what was read so far when the rest must stream through. */
  head: Buffer;
  /** True when `head` is the whole (rewritten) body; false when the rest of `body` follows. */
  complete: boolean;
}

/** Reads a tag list and sets its `name`; gives up (complete: false) past the bound. */
export async function rewriteTagListName(body: Readable, headers: IncomingHttpHeaders, name: string): Promise<Rewritten> {
  const declared = Number(headers['content-length']);
  if (!/\bjson\b/.test(headers['content-type'] ?? '') || declared > TAG_LIST_MAX_BYTES) return { head: Buffer.alloc(0), complete: false };
  // Listeners, not for-await: leaving a for-await loop early would destroy the stream, and
  // past the bound the rest of it must still flow to the client.
  const read = await new Promise<{ chunks: Buffer[]; ended: boolean }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (ended: boolean): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      resolve({ chunks, ended });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > TAG_LIST_MAX_BYTES) {
        body.pause();
        body.on('error', () => {}); // until the caller pipes the rest (pipeline reports errors)
        done(false);
      }
    };
    const onEnd = (): void => done(true);
    const onError = (err: Error): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
  const whole = Buffer.concat(read.chunks);
  if (!read.ended) return { head: whole, complete: false };
  try {
    const list = JSON.parse(whole.toString('utf8')) as unknown;
    if (typeof list === 'object' && list !== null && !Array.isArray(list) && typeof (list as { name?: unknown }).name === 'string') {
      (list as { name: string }).name = name;
      return { head: Buffer.from(JSON.stringify(list)), complete: true };
    }
  } catch {
    // not JSON after all: pass it on as it came
  }
  return { head: whole, complete: true };
}

/** Headers for a body the proxy changed: its own length, no validators of the original. */
export function changedBodyHeaders(headers: OutgoingHttpHeaders, length: number): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers, 'content-length': length };
  for (const validator of ['etag', 'content-md5', 'digest']) delete out[validator];
  return out;
}
