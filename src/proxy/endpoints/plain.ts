/**
 * Every endpoint without a rule of its own (blobs, uploads, manifests by GET/HEAD/DELETE,
 * referrers, the catalog): forwarded with method, query, headers and body, the answer streamed
 * back. Request bodies stream too, never held.
 */
import type { IncomingMessage } from 'node:http';
import { hasBody } from '../context.ts';
import { respond, send } from '../respond.ts';
import type { Handler } from './handler.ts';

export const forwardPlain: Handler = async (ctx, t, deps) => {
  const body: IncomingMessage | null = hasBody(ctx.req) ? ctx.req : null;
  respond(ctx, t, await send(ctx, t, body, deps), deps);
};
