/** One large blob GET with curl (after a smaller warm-up GET). */
import { mib } from '../lib/numbers.ts';
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, atLeast, blobGet } from './common.ts';

export const getBlob: Scenario = {
  id: 'get-blob',
  build: (b) => ({
    title: `${mib(b.opts.sizes.mono)} blob GET`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: 'curl -o /dev/null',
    goals: [atLeast('proxy', 'strongest', 1.0), atLeast('proxy', 'direct', 0.6)],
    warmup: async (t) => void (await blobGet(b, t, b.env.digests.conc, b.opts.sizes.concEach)),
    run: (t) => blobGet(b, t, b.env.digests.mono, b.opts.sizes.mono),
  }),
};
