/** The proxy's peak RSS during single GETs of each blob size: it should not grow with the size. */
import { MiB } from './constants.ts';
import { round, sleep } from './numbers.ts';
import { ensureBlob } from './registry-api.ts';
import { anonRss, vmHwm, vmRss } from './sampling.ts';
import { startProxy } from './servers.ts';
import type { Bench, RssBySize } from './types.ts';

/** When a fresh proxy counts as at rest: start-up garbage collected, first health checks done. */
const REST_MS = 5_000;

/**
 * Peak RSS of a fresh proxy process during one GET of each blob size (a fresh process per size,
 * so what earlier scenarios grew does not hide it). Before the GET: `startup`, the peak (VmHWM)
 * 0.5 s after start (start-up and the first health checks); `idle`, VmRSS at rest REST_MS after
 * start with no traffic, and `idleAnon`, its anonymous part (the rest is file pages: mostly the
 * node executable's own code, clean and shared).
 */
export async function rssBySize({ opts: { sizes }, procs, clients, env }: Bench): Promise<RssBySize> {
  await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, sizes.small), env.digests.small);
  const out: RssBySize = {};
  const blobs: [string, string, number][] = [
    [`${sizes.small / MiB} MiB`, env.digests.small, sizes.small],
    [`${sizes.concEach / MiB} MiB`, env.digests.conc, sizes.concEach],
    [`${sizes.mono / MiB} MiB`, env.digests.mono, sizes.mono],
  ];
  for (const [label, digest, size] of blobs) {
    const p = await startProxy(procs, `proxy-rss-${size / MiB}m`, env.mainConfig, ['--default-connector', 'default/open']);
    const started = performance.now();
    await sleep(500);
    const startup = vmHwm(p.proc.pid) ?? NaN;
    await sleep(REST_MS - (performance.now() - started));
    const idle = vmRss(p.proc.pid);
    const idleAnon = anonRss(p.proc.pid);
    const r = await clients.curlGet(`${p.url}/v2/bench/upload/blobs/${digest}`, {});
    const peak = vmHwm(p.proc.pid) ?? NaN;
    await procs.stop(p.proc);
    if (r.status !== 200 || r.bytes !== size) throw new Error(`rss GET ${label}: ${r.status} ${r.bytes}`);
    out[label] = { startupMiB: round(startup / MiB, 1), idleMiB: round(idle / MiB, 1), idleAnonMiB: round(idleAnon / MiB, 1), peakMiB: round(peak / MiB, 1) };
  }
  return out;
}
