/**
 * --profile: instead of the table, CPU profiles under manifest GET load (the proxy at the info and
 * warn log levels), under large blob GETs, and under monolithic uploads (the proxy and node-relay,
 * the least a Node proxy does, side by side), summarised by bench/profile.ts into
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
import { type Proc, type Processes, tail } from './processes.ts';
import { semiSpaceSweep } from './semi-space.ts';
import { defaultProxyNodeFlags, startProxy } from './servers.ts';
import { type Env, seedGetBlobs, setUp, writeBlobFile } from './services.ts';
import { startNodeAnchor } from './anchors.ts';
import { monolithicUpload } from '../scenarios/upload-mono.ts';

interface ProfileRun {
  procs: Processes;
  env: Env;
  summaries: Record<string, unknown>;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** A process to profile: where it listens and its process. */
interface Profiled {
  url: string;
  proc: Proc;
}

/** Starts the process to profile with these node flags. */
type Start = (name: string, nodeFlags: string[]) => Promise<Profiled>;

const startProxyFor =
  (pr: ProfileRun, args: string[] = []): Start =>
  (name, nodeFlags) =>
    startProxy(pr.procs, `proxy-prof-${name}`, pr.env.mainConfig, ['--default-connector', 'default/open', ...args], nodeFlags);

const startRelayFor =
  (pr: ProfileRun): Start =>
  async (name, nodeFlags) => {
    const relay = await startNodeAnchor(pr.procs, 'node-relay', { open: pr.env.open.port }, nodeFlags, `node-relay-prof-${name}`);
    return { url: relay.urls['open']!, proc: relay.proc };
  };

/**
 * Runs `work` on a fresh process (`start`) at the shipped node flags plus --cpu-prof, then
 * summarises the profile into bench/results/profile-<name>.txt. `work` calls `mark()` when the
 * measured load starts (the summary then leaves out start-up and warm-up) and returns a line
 * describing the load.
 */
async function profiled(pr: ProfileRun, name: string, title: string, start: Start, work: (p: Profiled, mark: () => void) => Promise<string>): Promise<void> {
  const dir = join(pr.procs.work, `prof-${name}`);
  mkdirSync(dir);
  const p = await start(name, [...defaultProxyNodeFlags(), '--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250']);
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

const manifestUrl = (p: Profiled): string => `${p.url}/v2/bench/image/manifests/v1`;

async function profileManifestGets(pr: ProfileRun, clients: Clients, profSec: number): Promise<void> {
  await profiled(pr, 'manifest-get', 'proxy CPU profile: manifest GET (--log-level info, the default)', startProxyFor(pr), async (p, mark) => {
    await clients.wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await clients.wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s GET ${manifestUrl(p).replace(p.url, '')} after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on, --cpu-prof-interval=250us)`;
  });
  await profiled(pr, 'manifest-get-warn', 'proxy CPU profile: manifest GET with --log-level warn', startProxyFor(pr, ['--log-level', 'warn']), async (p, mark) => {
    await clients.wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await clients.wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s, after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on)`;
  });
}

async function profileBlobGets(pr: ProfileRun, clients: Clients, opts: Options): Promise<void> {
  const { sizes } = opts;
  const gets = opts.quick ? 2 : 4;
  await profiled(pr, 'blob-get', `proxy CPU profile: ${sizes.mono / MiB} MiB blob GET`, startProxyFor(pr), async (p, mark) => {
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

/** Monolithic uploads through the proxy, then through node-relay: where the proxy's extra time goes. */
async function profileUploads(pr: ProfileRun, clients: Clients, opts: Options): Promise<void> {
  const { sizes } = opts;
  const puts = opts.quick ? 1 : 2;
  const targets: [string, string, Start][] = [
    ['upload', 'proxy', startProxyFor(pr)],
    ['upload-node-relay', 'node-relay', startRelayFor(pr)],
  ];
  for (const [name, who, start] of targets) {
    await profiled(pr, name, `${who} CPU profile: ${sizes.mono / MiB} MiB monolithic upload`, start, async (p, mark) => {
      const e = { origin: p.url, prefix: '', headers: {} };
      await monolithicUpload(clients, e, pr.env.blobFile, sizes.mono, pr.env.digests.mono);
      mark();
      const speeds: string[] = [];
      for (let i = 0; i < puts; i++) speeds.push(fmt((await monolithicUpload(clients, e, pr.env.blobFile, sizes.mono, pr.env.digests.mono)).value));
      return `load: ${puts} sequential curl -T PUTs of the ${sizes.mono / MiB} MiB blob after one warm-up upload: ${speeds.join(', ')} MiB/s (profiler on)`;
    });
  }
}

export async function profileMode(opts: Options, procs: Processes, clients: Clients): Promise<void> {
  const env = await setUp(procs, opts.sizes, { anchors: false, warn: false, cache: false, rounds: opts.rounds });
  const t0 = performance.now();
  await seedGetBlobs(env, opts.sizes);
  writeBlobFile(env);
  console.log(`seeded ${opts.sizes.mono / MiB} MiB blob in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Every measurement here runs on a proxy of its own.
  await procs.stop(env.proxy.proc);
  mkdirSync(RESULTS, { recursive: true });
  const pr: ProfileRun = { procs, env, summaries: {} };
  const profSec = opts.quick ? 3 : 8;
  await profileManifestGets(pr, clients, profSec);
  await profileBlobGets(pr, clients, opts);
  await profileUploads(pr, clients, opts);
  const sweep = await semiSpaceSweep(opts, procs, clients, env);
  const json = { generatedAt: new Date().toISOString(), environment: versions(procs.work), profiles: pr.summaries, semiSpace: sweep };
  writeFileSync(join(RESULTS, opts.quick ? 'profile-quick.json' : 'profile.json'), JSON.stringify(json, null, 2) + '\n');
}
