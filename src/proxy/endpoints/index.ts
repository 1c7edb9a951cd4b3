/**
 * The endpoint table: which handler serves a routed request, by endpoint kind and method
 * (route.ts names the kinds). Anything not listed is forwarded as it is.
 */
import type { Endpoint } from '../../distribution/route.ts';
import { base } from './base.ts';
import { blobGet } from './blob-get.ts';
import type { Handler } from './handler.ts';
import { manifestGet } from './manifest-get.ts';
import { manifestPut } from './manifest-put.ts';
import { forwardPlain } from './plain.ts';
import { tagList } from './tag-list.ts';

const HANDLERS: Partial<Record<`${Endpoint} ${string}`, Handler>> = {
  'base GET': base,
  'base HEAD': base,
  'manifest PUT': manifestPut,
  // The pull-through cache (each forwards as it is when there is none):
  'blob GET': blobGet,
  'blob HEAD': blobGet,
  'manifest GET': manifestGet,
  'manifest HEAD': manifestGet,
  'tags GET': tagList,
};

export function handlerFor(endpoint: Endpoint, method: string): Handler {
  return HANDLERS[`${endpoint} ${method}`] ?? forwardPlain;
}

export type { Handler, HandlerDeps } from './handler.ts';
export { writeBase } from './base.ts';
export { ByteBudget } from './manifest-put.ts';
