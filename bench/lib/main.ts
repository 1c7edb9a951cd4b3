/** A whole benchmark run: the work directory, the services, the scenarios (or the profiles), the report. */
import { readFileSync } from 'node:fs';
import { readsUploadedBlobs, scenarios, usesCache } from '../scenarios/index.ts';
import { Clients } from './clients.ts';
import type { Options } from './options.ts';
import { Processes } from './processes.ts';
import { profileMode } from './profile-mode.ts';
import { report } from './report.ts';
import { rssBySize } from './rss-by-size.ts';
import { type Runner, runScenario } from './runner.ts';
import { QuietGate } from './sampling.ts';
import { proxiesOf, seedGetBlobs, setUp, writeBlobFile } from './services.ts';
import type { Bench, RssBySize, Scenario, ScenarioResult } from './types.ts';
import { createWorkDir, workNeed } from './workdir.ts';

/** The scenarios --only names, in the usual order; throws on an unknown id. */
function selected(opts: Options): Scenario[] {
  const { only } = opts;
  const wanted = scenarios.filter((s) => !only || only.has(s.id));
  if (only && wanted.length !== only.size) throw new Error(`--only: unknown scenario; have ${scenarios.map((s) => s.id).join(', ')}`);
  return wanted;
}

/** The table mode: all (or the --only) scenarios against direct, the anchors and the proxies. */
async function tableMode(opts: Options, procs: Processes, clients: Clients, started: number): Promise<void> {
  const wanted = selected(opts);
  const env = await setUp(procs, opts.sizes, { anchors: true, warn: true, cache: wanted.some(usesCache), rounds: opts.rounds });
  writeBlobFile(env);
  const bench: Bench = { opts, procs, clients, env };
  const runner: Runner = { rounds: opts.rounds, quiet: new QuietGate(opts.quick, !opts.noWait), procs, proxies: proxiesOf(env) };
  const results: ScenarioResult[] = [];
  for (const s of wanted) {
    // GET scenarios read the blobs the upload scenarios write; seed them when those did not run.
    if (readsUploadedBlobs(s)) await seedGetBlobs(env, opts.sizes);
    results.push(await runScenario(runner, s.id, s.build(bench)));
  }
  let rss: RssBySize | undefined;
  if (wanted.some(readsUploadedBlobs)) rss = await rssBySize(bench);
  report(results, rss, opts, procs.work, started);
}

async function run(opts: Options, procs: Processes): Promise<void> {
  const started = Date.now();
  console.log(`oci-connector-proxy benchmark: ${opts.profile ? 'profile' : opts.quick ? 'quick' : 'full'} mode, ${opts.rounds} round(s), work directory on ${procs.work}`);
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  console.log(`load average before start: ${load} (other work on the machine skews results; "other" CPU per run is reported)`);
  const clients = new Clients(procs.work);
  if (opts.profile) {
    await profileMode(opts, procs, clients);
    console.log(`run time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  await tableMode(opts, procs, clients, started);
}

/** Runs the benchmark; on an error prints it and sets the exit code; always cleans up. */
export async function main(opts: Options): Promise<void> {
  const procs = new Processes(createWorkDir(workNeed(opts.sizes, opts.rounds)), opts.keep);
  procs.cleanupOnSignals();
  try {
    await run(opts, procs);
  } catch (err) {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  } finally {
    await procs.cleanup();
  }
}
