/** An endpoint's handler: what the forwarder does with a routed, authorized request. */
import type { RequestContext } from '../context.ts';
import type { Responder } from '../respond.ts';
import type { Target } from '../target.ts';
import type { PullThroughCache } from '../../cache/cache.ts';
import type { ByteBudget } from './manifest-put.ts';

export interface HandlerDeps extends Responder {
  /** Largest manifest a client may PUT (held in memory so an authentication retry can replay it). */
  manifestMaxBytes: number;
  /** Manifest bytes held by all PUTs in flight together. */
  manifestBudget: ByteBudget;
  /** The pull-through cache, when --cache-dir is given. */
  cache?: PullThroughCache | undefined;
}

/** Settles when the answer is under way; any rejection goes to the context's single error path. */
export type Handler = (ctx: RequestContext, t: Target, deps: HandlerDeps) => Promise<void>;
