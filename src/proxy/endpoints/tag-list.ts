/**
 * `GET /v2/<name>/tags/list` in path mode: the list's `name` gets the connector prefix back
 * (taglist.ts), streamed. The first part of the body (up to HEAD_MAX) is read before the
 * answer's head is written: when the name is found there, as registries write it first, the
 * answer keeps an exact Content-Length; otherwise it goes out chunked while the rest is scanned.
 * Validators of the original body (ETag, Digest) are dropped: the body is not the same.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline, type Readable, Transform } from 'node:stream';
import type { UpstreamResponse } from '../../upstream/types.ts';
import { respond, responseHeaders, send, stream } from '../respond.ts';
import { TagListNameRewriter } from '../taglist.ts';
import type { Handler } from './handler.ts';
import { forwardPlain } from './plain.ts';

const HEAD_MAX = 64 * 1024;

export const tagList: Handler = async (ctx, t, deps) => {
  const selector = t.route.selector;
  if (!selector) return forwardPlain(ctx, t, deps);
  const up = await send(ctx, t, null, deps);
  if (up.statusCode !== 200 || !/\bjson\b/.test(up.headers['content-type'] ?? '')) return respond(ctx, t, up, deps);
  const rewriter = new TagListNameRewriter(`namespaces/${selector.namespace}/connectors/${selector.name}/${t.route.repository}`);
  const { head, ended } = await readHead(up, rewriter);
  if (ctx.over) return void up.body.destroy();
  const headers = changedBodyHeaders(responseHeaders(ctx, t, up, deps));
  if (ended || up.body.readableEnded) {
    ctx.res.writeHead(200, { ...headers, 'content-length': head.length });
    ctx.res.end(head);
    return;
  }
  const declared = Number(up.headers['content-length']);
  if (rewriter.settled && Number.isFinite(declared)) headers['content-length'] = declared + rewriter.delta;
  ctx.res.writeHead(200, headers);
  stream(ctx, t, rewriter.settled ? up.body : rewritten(up.body, rewriter), deps, head);
};

/** Reads until the rewriter has settled, the body ended, or HEAD_MAX bytes came; the rewritten bytes so far. */
function readHead(up: UpstreamResponse, rewriter: TagListNameRewriter): Promise<{ head: Buffer; ended: boolean }> {
  const body = up.body;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let read = 0;
    const finish = (ended: boolean): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      if (!ended) body.pause();
      resolve({ head: Buffer.concat(out), ended });
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      out.push(rewriter.push(chunk));
      if (rewriter.settled || read >= HEAD_MAX) finish(false);
    };
    const onEnd = (): void => {
      out.push(rewriter.end());
      finish(true);
    };
    const onError = (err: Error): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

/** The rest of a body through the rewriter; an upstream error reaches the relay as the stream's error. */
function rewritten(body: Readable, rewriter: TagListNameRewriter): Readable {
  const t = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, rewriter.push(chunk));
    },
    flush(done) {
      done(null, rewriter.end());
    },
  });
  pipeline(body, t, () => {});
  return t;
}

/** Headers for a body the proxy changed: no length or validators of the original. */
function changedBodyHeaders(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  for (const name of ['content-length', 'etag', 'content-md5', 'digest']) delete out[name];
  return out;
}
