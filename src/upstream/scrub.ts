/**
 * The scrubber: the one place where upstream text enters the proxy. Some registries quote the
 * `Authorization` they received in an error body (`rejected Basic <base64>`) or a header; that
 * text must never reach a client, a log line, `/connectors` or a health condition. The layer
 * sits just above the exchange, so it sees the request exactly as sent (with the credential the
 * auth layer added): every response header, and the body of every error answer (up to
 * MAX_ERROR_BODY; a longer one is cut there), have these removed:
 *
 * - the `Authorization` value sent, and its credential part (token, or Basic base64);
 * - the connector's password: plain, base64, URL- and form-encoded; `user:password` in base64;
 * - the connector's username, as a whole word (short names would garble ordinary text).
 *
 * Successful bodies (blobs, manifests, listings) are data and pass untouched.
 */
import { Readable } from 'node:stream';
import type { Credentials } from '../connectors/model.ts';
import { basicCredentials } from '../util/basic.ts';
import { discard, type Layer, type UpstreamResponse } from './types.ts';

export const REDACTED = '[redacted]';
/** The most of an error body the proxy reads and passes on. */
export const MAX_ERROR_BODY = 64 * 1024;

export class Scrubber {
  private readonly secrets: string[];
  private readonly username: RegExp | undefined;

  constructor(secrets: readonly string[], username?: string | RegExp) {
    // Longest first, so that a secret containing another is removed whole.
    this.secrets = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
    this.username = typeof username !== 'string' ? username : username.length >= 3 ? new RegExp(`(?<![A-Za-z0-9])${escapeRegExp(username)}(?![A-Za-z0-9])`, 'g') : undefined;
  }

  get empty(): boolean {
    return this.secrets.length === 0 && this.username === undefined;
  }

  /** Also removes `more` (e.g. the credential of one request). */
  with(more: readonly string[]): Scrubber {
    return more.length === 0 ? this : new Scrubber([...this.secrets, ...more], this.username);
  }

  text(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    if (this.username) out = out.replace(this.username, REDACTED);
    return out;
  }

  /** True when `text` holds something this scrubber removes. */
  finds(text: string): boolean {
    return this.text(text) !== text;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Everything a connector's credentials can look like in an upstream's text. */
export function credentialScrubber(c: Credentials | undefined): Scrubber {
  if (!c) return new Scrubber([]);
  const p = c.password;
  return new Scrubber(
    [p, encodeURIComponent(p), new URLSearchParams({ p }).toString().slice(2), Buffer.from(p).toString('base64'), basicCredentials(c.username, c.password)],
    c.username,
  );
}

/** The `Authorization` value in flat request headers, and its credential part. */
function sentCredential(headers: readonly string[]): string[] {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'authorization') continue;
    const value = headers[i + 1]!;
    const space = value.indexOf(' ');
    return space === -1 ? [value] : [value, value.slice(space + 1).trim()];
  }
  return [];
}

/** The scrubbing layer: `connector` removes the connector's own credentials; each request adds the one it carried. */
export function scrubLayer(connector: Scrubber): Layer {
  return (next) => async (req) => {
    const res = await next(req);
    const scrubber = connector.with(sentCredential(req.headers));
    if (scrubber.empty) return res;
    scrubHeaders(res, scrubber);
    if (res.statusCode < 400 || req.method === 'HEAD') return res;
    return { ...res, body: await scrubbedBody(res, scrubber) };
  };
}

function scrubHeaders(res: UpstreamResponse, scrubber: Scrubber): void {
  for (const name in res.headers) {
    const value = res.headers[name];
    if (typeof value === 'string') {
      if (scrubber.finds(value)) res.headers[name] = scrubber.text(value);
    } else if (Array.isArray(value)) {
      res.headers[name] = value.map((v) => scrubber.text(v));
    }
  }
}

/** Reads an error body (bounded), scrubs it, and offers it again with its new length. */
async function scrubbedBody(res: UpstreamResponse, scrubber: Scrubber): Promise<Readable> {
  const encoding = res.headers['content-encoding'];
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      chunks.push(b.subarray(0, MAX_ERROR_BODY - size));
      size += b.length;
      if (size >= MAX_ERROR_BODY) break;
    }
  } finally {
    discard(res.body);
  }
  // A compressed body cannot be searched: it is withheld rather than passed on unread.
  const text =
    encoding !== undefined && encoding !== 'identity'
      ? '{"errors":[{"code":"UNKNOWN","message":"the upstream\'s compressed error body was withheld"}]}'
      : scrubber.text(Buffer.concat(chunks).toString('utf8'));
  const body = Buffer.from(text);
  delete res.headers['content-encoding'];
  delete res.headers['transfer-encoding'];
  res.headers['content-length'] = String(body.length);
  return Readable.from([body], { objectMode: false });
}
