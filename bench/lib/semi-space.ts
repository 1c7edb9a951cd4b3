/**
 * The --max-semi-space-size sweep of --profile (with the marking triggers and the heap growth
 * factor the proxy ships, and two combinations with --max-old-space-size):
 * peak RSS and speed of the same work per setting, each on a fresh proxy process; written to
 * bench/results/semi-space.txt.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MT } from '../../test/helpers/oci.ts';
import type { Clients } from './clients.ts';
import { CONNS, MiB, RESULTS } from './constants.ts';
import { fmt, median, round, sleep, table } from './numbers.ts';
import type { Options } from './options.ts';
import type { Processes } from './processes.ts';
import { clkTck, procTicks, vmHwm, vmRss } from './sampling.ts';
import { startProxy } from './servers.ts';
import type { Env } from './services.ts';

export interface SweepRow {
  nodeFlags: string;
  idleRssMiB: number;
  peakRssMiB: number;
  endRssMiB: number;
  blobGetMiBs: number;
  concurrentMiBs: number;
  manifestRps: number;
  proxyCpuS: number;
}

/**
 * Old-generation marking started by the old generation's own growth (percent of the way to its
 * limit) instead of V8's default, which also counts the bytes of Buffers allocated since the last
 * full GC: a blob transfer then runs a full GC every few tens of MiB.
 */
const TRIGGERS = ['--incremental-marking-soft-trigger=90', '--incremental-marking-hard-trigger=95'];

/** Old generation allowed to grow to twice what is live after a full GC (V8's own factor ranges up to 4). */
const GROWTH = (percent: number): string => `--heap-growing-percent=${percent}`;

function settings(quick: boolean): string[][] {
  if (quick)
    return [
      [],
      ['--max-semi-space-size=1'],
      ['--max-semi-space-size=1', ...TRIGGERS],
      ['--max-semi-space-size=1', ...TRIGGERS, GROWTH(100)],
      ['--max-semi-space-size=2', '--max-old-space-size=96'],
    ];
  return [
    [],
    ['--max-semi-space-size=1'],
    ['--max-semi-space-size=1', ...TRIGGERS],
    ['--max-semi-space-size=1', ...TRIGGERS, GROWTH(50)],
    ['--max-semi-space-size=1', ...TRIGGERS, GROWTH(100)],
    ['--max-semi-space-size=2', ...TRIGGERS],
    ['--max-semi-space-size=2'],
    ['--max-semi-space-size=4'],
    ['--max-semi-space-size=8'],
    ['--max-semi-space-size=16'],
    ['--max-semi-space-size=32'],
    ['--max-semi-space-size=64'],
    ['--max-old-space-size=96'],
    ['--max-semi-space-size=2', '--max-old-space-size=96'],
  ];
}

/** One setting: 2 blob GETs, the concurrent GETs, then manifest GET load, on a fresh proxy. */
async function measureFlags(opts: Options, procs: Processes, clients: Clients, env: Env, flags: string[], n: number): Promise<SweepRow> {
  const { sizes } = opts;
  const p = await startProxy(procs, `proxy-flags-${n}`, env.mainConfig, ['--default-connector', 'default/open'], flags);
  const blobUrl = (digest: string): string => `${p.url}/v2/bench/upload/blobs/${digest}`;
  await sleep(500);
  const idle = round(vmRss(p.proc.pid) / MiB, 1);
  const c0 = procTicks(p.proc.pid) ?? 0;
  const g: number[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await clients.curlGet(blobUrl(env.digests.mono), {});
    g.push(sizes.mono / MiB / r.seconds);
  }
  const tc = performance.now();
  await Promise.all(Array.from({ length: sizes.conc }, () => clients.curlGet(blobUrl(env.digests.conc), {})));
  const conc = (sizes.conc * sizes.concEach) / MiB / ((performance.now() - tc) / 1000);
  const w = await clients.wrk(`${p.url}/v2/bench/image/manifests/v1`, { accept: MT.manifest }, opts.quick ? 2 : 8);
  const cpu = ((procTicks(p.proc.pid) ?? 0) - c0) / clkTck();
  const hwm = round((vmHwm(p.proc.pid) ?? NaN) / MiB, 1);
  const end = round(vmRss(p.proc.pid) / MiB, 1);
  await procs.stop(p.proc);
  const nodeFlags = flags.length ? flags.join(' ') : '(defaults)';
  return {
    nodeFlags,
    idleRssMiB: idle,
    peakRssMiB: hwm,
    endRssMiB: end,
    blobGetMiBs: round(median(g), 0),
    concurrentMiBs: round(conc, 0),
    manifestRps: round(w.rps, 0),
    proxyCpuS: round(cpu, 2),
  };
}

export async function semiSpaceSweep(opts: Options, procs: Processes, clients: Clients, env: Env): Promise<SweepRow[]> {
  const { sizes } = opts;
  const rows: string[][] = [
    ['node flags', 'idle RSS MiB', 'peak RSS MiB', 'end RSS MiB', 'blob GET MiB/s', `${sizes.conc}x${sizes.concEach / MiB} MiB GET MiB/s`, 'manifest GET req/s', 'proxy CPU s'],
  ];
  const sweep: SweepRow[] = [];
  for (const flags of settings(opts.quick)) {
    const row = await measureFlags(opts, procs, clients, env, flags, sweep.length);
    sweep.push(row);
    rows.push([
      row.nodeFlags,
      fmt(row.idleRssMiB),
      fmt(row.peakRssMiB),
      fmt(row.endRssMiB),
      fmt(row.blobGetMiBs),
      fmt(row.concurrentMiBs),
      fmt(row.manifestRps),
      fmt(row.proxyCpuS),
    ]);
    console.log(`node flags ${row.nodeFlags}: ${JSON.stringify(row)}`);
  }
  const sweepText = `# V8 heap flags sweep (node flags before dist/cli.js), one fresh proxy per setting, in this order:
# 2 x ${sizes.mono / MiB} MiB blob GET (curl), ${sizes.conc} concurrent ${sizes.concEach / MiB} MiB GETs, then wrk -t1 -c${CONNS} manifest GET for ${opts.quick ? 2 : 8} s
# (RSS grows under request load: the longer manifest run shows it). idle = VmRSS 0.5 s after start;
# peak = VmHWM over the process life; end = VmRSS after the work. Single runs on 2 shared cores: expect noise.
${table(rows)}
`;
  writeFileSync(join(RESULTS, 'semi-space.txt'), sweepText);
  console.log(`\n${sweepText}`);
  return sweep;
}
