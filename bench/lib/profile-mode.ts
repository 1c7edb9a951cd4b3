/**
 * --profile: instead of the table, CPU profiles of the proxy under manifest GET load (at the info
 * and warn log levels) and under large blob GETs, summarised by bench/profile.ts into
 * bench/results/profile-*.txt; then the V8 heap flags sweep (semi-space.ts); profile[-quick].json.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MT } from '../../test/helpers/oci.ts';
import { type CpuProfile, summarizeProfile } from '../profile.ts';
import type { Clients } from './clients.ts';
import { CONNS, MiB, RESULTS } from './constants.ts';
import { versions } from './environment.ts';
import { fmt } from './numbers.ts';
import type { Options } from './options.ts';
import { type Processes, tail } from './processes.ts';
import { semiSpaceSweep } from './semi-space.ts';
import { type ProxyProcess, startProxy } from './servers.ts';
import { type Env, seedGetBlobs, setUp } from './services.ts';

interface ProfileRun {
  procs: Processes;
  env: Env;
  summaries: Record<string, unknown>;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `work` on a fresh proxy started with --cpu-prof, then summarises the profile into
 * bench/results/profile-<name>.txt. `work` calls `mark()` when the measured load starts (the
 * summary then leaves out start-up and warm-up) and returns a line describing the load.
 */
async function profiled(pr: ProfileRun, name: string, title: string, args: string[], work: (p: ProxyProcess, mark: () => void) => Promise<string>): Promise<void> {
  const dir = join(pr.procs.work, `prof-${name}`);
  mkdirSync(dir);
  // Only the profiler flags: these proxies run without the shipped node flags.
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'];
  const p = await startProxy(pr.procs, `proxy-prof-${name}`, pr.env.mainConfig, ['--default-connector', 'default/open', ...args], nodeFlags);
  let fromUs = 0;
  const what = await work(p, () => (fromUs = nowUs()));
  const toUs = nowUs();
  // The profile is written when the process exits.
  await pr.procs.stop(p.proc);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: ${tail(p.proc.log)}`);
  const s = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, `${title}\n${what}`, 25, fromUs ? { fromUs, toUs } : undefined);
  const txt = join(RESULTS, `profile-${name}.txt`);
  writeFileSync(txt, s.text);
  pr.summaries[name] = { file: txt, busyMs: s.busyMs, categoriesSelf: s.categoriesSelf, categoriesOnStack: s.categoriesOnStack, top: s.top };
  console.log(`\n${s.text}\n(written to ${txt})`);
}

const manifestUrl = (p: ProxyProcess): string => `${p.url}/v2/bench/image/manifests/v1`;

async function profileManifestGets(pr: ProfileRun, clients: Clients, profSec: number): Promise<void> {
  await profiled(pr, 'manifest-get', 'proxy CPU profile: manifest GET (--log-level info, the default)', [], async (p, mark) => {
    await clients.wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await clients.wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s GET ${manifestUrl(p).replace(p.url, '')} after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on, --cpu-prof-interval=250us)`;
  });
  await profiled(pr, 'manifest-get-warn', 'proxy CPU profile: manifest GET with --log-level warn', ['--log-level', 'warn'], async (p, mark) => {
    await clients.wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await clients.wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s, after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on)`;
  });
}

async function profileBlobGets(pr: ProfileRun, clients: Clients, opts: Options): Promise<void> {
  const { sizes } = opts;
  const gets = opts.quick ? 2 : 4;
  await profiled(pr, 'blob-get', `proxy CPU profile: ${sizes.mono / MiB} MiB blob GET`, [], async (p, mark) => {
    await clients.curlGet(`${p.url}/v2/bench/upload/blobs/${pr.env.digests.conc}`, {});
    mark();
    const speeds: string[] = [];
    for (let i = 0; i < gets; i++) {
      const r = await clients.curlGet(`${p.url}/v2/bench/upload/blobs/${pr.env.digests.mono}`, {});
      speeds.push(fmt(sizes.mono / MiB / r.seconds));
    }
    return `load: ${gets} sequential curl GETs of the ${sizes.mono / MiB} MiB blob after one ${sizes.concEach / MiB} MiB warm-up GET: ${speeds.join(', ')} MiB/s (profiler on)`;
  });
}

export async function profileMode(opts: Options, procs: Processes, clients: Clients): Promise<void> {
  const env = await setUp(procs, opts.sizes, { anchors: false, warn: false, cache: false, rounds: opts.rounds });
  const t0 = performance.now();
  await seedGetBlobs(env, opts.sizes);
  console.log(`seeded ${opts.sizes.mono / MiB} MiB blob in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Every measurement here runs on a proxy of its own.
  await procs.stop(env.proxy.proc);
  mkdirSync(RESULTS, { recursive: true });
  const pr: ProfileRun = { procs, env, summaries: {} };
  const profSec = opts.quick ? 3 : 8;
  await profileManifestGets(pr, clients, profSec);
  await profileBlobGets(pr, clients, opts);
  const sweep = await semiSpaceSweep(opts, procs, clients, env);
  const json = { generatedAt: new Date().toISOString(), environment: versions(procs.work), profiles: pr.summaries, semiSpace: sweep };
  writeFileSync(join(RESULTS, opts.quick ? 'profile-quick.json' : 'profile.json'), JSON.stringify(json, null, 2) + '\n');
}
