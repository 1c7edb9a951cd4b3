/**
 * The endpoint table: which handler serves a routed request, by endpoint kind and method
 * (route.ts names the kinds). Anything not listed is forwarded as it is. A pull-through cache
 * adds its `blob GET` and `manifest GET` handlers here.
 */
import type { Endpoint } from '../../distribution/route.ts';
import { base } from './base.ts';
import type { Handler } from './handler.ts';
import { manifestPut } from './manifest-put.ts';
import { forwardPlain } from './plain.ts';
import { tagList } from './tag-list.ts';

const HANDLERS: Partial<Record<`${Endpoint} ${string}`, Handler>> = {
  'base GET': base,
  'base HEAD': base,
  'manifest PUT': manifestPut,
  'tags GET': tagList,
};

export function handlerFor(endpoint: Endpoint, method: string): Handler {
  return HANDLERS[`${endpoint} ${method}`] ?? forwardPlain;
}

export type { Handler, HandlerDeps } from './handler.ts';
export { writeBase } from './base.ts';
export { ByteBudget } from './manifest-put.ts';
