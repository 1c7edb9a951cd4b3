/** Manifest GET by tag on one connection: the latency the proxy adds without queueing. */
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, load, manifestRequest, p99Added } from './common.ts';

export const manifestGetC1: Scenario = {
  id: 'manifest-get-c1',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `manifest GET by tag, 1 connection, ${sizes.loadSec} s: the latency the proxy adds without queueing`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: 'wrk -t1 -c1 --latency',
    goals: [p99Added(1)],
    warmup: async (t) => {
      const m = manifestRequest(env, t);
      if (sizes.warmSec > 0) await clients.wrk(m.url, m.headers, sizes.warmSec, undefined, 1);
    },
    run: async (t) => {
      const m = manifestRequest(env, t);
      return load(await clients.wrk(m.url, m.headers, sizes.loadSec, undefined, 1));
    },
  }),
};
