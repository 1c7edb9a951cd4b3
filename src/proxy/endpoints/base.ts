/**
 * `GET /v2/`, the version check clients send before nearly everything. The proxy answers it
 * itself once the connector's upstream has answered its own ping (one for all callers): no
 * token exchange and no round trip per client. Whether the connector's credentials work is
 * AuthReady's job.
 */
import type { ServerResponse } from 'node:http';
import type { Handler } from './handler.ts';

/** The API version check's answer. */
export function writeBase(res: ServerResponse, method: string): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': 2, 'docker-distribution-api-version': 'registry/2.0' });
  res.end(method === 'HEAD' ? undefined : '{}');
}

export const base: Handler = async (ctx, t) => {
  await t.client.ready(ctx.signal);
  if (!ctx.over) writeBase(ctx.res, ctx.method);
};
