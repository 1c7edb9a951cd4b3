/** One large blob GET with curl (after a smaller warm-up GET). */
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import { endpoint } from '../lib/services.ts';
import type { Bench, ClientResult, Scenario } from '../lib/types.ts';
import { ge, T3 } from './common.ts';

/** GETs one blob of bench/upload through `target`; MiB/s by curl's own transfer time. */
async function getOnce({ clients, env }: Bench, target: string, digest: string, size: number): Promise<ClientResult> {
  const e = endpoint(env, target, 'open');
  const r = await clients.curlGet(`${e.origin}/v2/${e.prefix}bench/upload/blobs/${digest}`, e.headers);
  if (r.status !== 200 || r.bytes !== size) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
  return { value: size / MiB / r.seconds, clientCpuS: r.cpuS };
}

export const getBlob: Scenario = {
  id: 'get-blob',
  build: (b) => ({
    title: `${mib(b.opts.sizes.mono)} blob GET`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: T3,
    client: 'curl -o /dev/null',
    goals: [
      { text: 'proxy >= 1.0 x nginx', check: ge('proxy', 'nginx', 1.0) },
      { text: 'proxy >= 0.6 x direct', check: ge('proxy', 'direct', 0.6) },
    ],
    warmup: async (t) => void (await getOnce(b, t, b.env.digests.conc, b.opts.sizes.concEach)),
    run: (t) => getOnce(b, t, b.env.digests.mono, b.opts.sizes.mono),
  }),
};
