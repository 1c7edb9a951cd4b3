/**
 * The get-blob blob through proxy-cache once its store holds it: a hit is the store's file to
 * the client socket, no upstream. Each proxy-cache run checks from /metrics that it was one.
 */
import { cacheDelta, fillsSettled, scrape } from '../lib/metrics.ts';
import { mib } from '../lib/numbers.ts';
import type { Bench, ClientResult, Scenario, ScenarioSpec } from '../lib/types.ts';
import { atLeast, blobGet } from './common.ts';

/** proxy-cache's runs: bytes from the store and from upstream, requests by cache result. */
type Checked = { bytes: Record<string, number>; results: Record<string, number> }[];

async function warmup(b: Bench, t: string): Promise<void> {
  const { sizes } = b.opts;
  if (t !== 'proxy-cache') return void (await blobGet(b, t, b.env.digests.conc, sizes.concEach));
  // The fill: a whole GET, then wait for the store to commit it.
  await blobGet(b, t, b.env.digests.mono, sizes.mono);
  await fillsSettled(b.env.proxyCache!.url);
}

async function run(b: Bench, checked: Checked, t: string): Promise<ClientResult> {
  const { sizes } = b.opts;
  if (t !== 'proxy-cache') return blobGet(b, t, b.env.digests.mono, sizes.mono);
  const url = b.env.proxyCache!.url;
  const before = await scrape(url);
  const r = await blobGet(b, t, b.env.digests.mono, sizes.mono);
  const d = cacheDelta(before, await scrape(url), 'default/open');
  checked.push(d);
  return { ...r, extra: { cache: d } };
}

function build(b: Bench): ScenarioSpec {
  const checked: Checked = [];
  return {
    title: `${mib(b.opts.sizes.mono)} blob GET from proxy-cache's store (filled by a warm-up GET)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ['direct', 'nginx-tuned', 'proxy-cache'],
    client: 'curl -o /dev/null',
    goals: [atLeast('proxy-cache', 'direct', 1.0)],
    warmup: (t) => warmup(b, t),
    run: (t) => run(b, checked, t),
    summary: () => ({
      proxyCacheRuns: checked,
      allHits: checked.length > 0 && checked.every((c) => (c.bytes['upstream'] ?? 0) === 0 && (c.results['hit'] ?? 0) === 1),
      note: 'per proxy-cache run, from its /metrics: ocp_cache_bytes_total by source and ocp_cache_requests_total by result; a warm run is 1 hit, 0 upstream bytes',
    }),
  };
}

export const cacheWarmGet: Scenario = { id: 'cache-warm-get', build };
