/** What the client itself costs: the same GET, direct, with curl and with undici in this process. */
import { request } from 'undici';
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import type { Scenario } from '../lib/types.ts';

export const clientCost: Scenario = {
  id: 'client-cost',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `client cost: ${mib(sizes.mono)} blob GET direct, curl vs undici`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ['curl', 'undici'],
    client: 'curl -o /dev/null; undici request() with the body drained by for-await',
    rounds: 1,
    goals: [],
    async run(t) {
      const url = `${env.open.url}/v2/bench/upload/blobs/${env.digests.mono}`;
      if (t === 'curl') {
        const r = await clients.curlGet(url, {});
        if (r.status !== 200 || r.bytes !== sizes.mono) throw new Error(`GET: ${r.status} ${r.bytes}`);
        return { value: sizes.mono / MiB / r.seconds, clientCpuS: r.cpuS };
      }
      const t0 = performance.now();
      const res = await request(url);
      let n = 0;
      for await (const c of res.body) n += (c as Buffer).length;
      if (res.statusCode !== 200 || n !== sizes.mono) throw new Error(`GET: ${res.statusCode} ${n}`);
      return { value: sizes.mono / MiB / ((performance.now() - t0) / 1000), clientCpuS: 0 };
    },
  }),
};
