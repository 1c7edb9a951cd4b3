/** The command-line flags of bench/run.ts and the sizes they select. */
import { parseArgs } from 'node:util';
import { MiB } from './constants.ts';

export const USAGE = `Usage: npm run bench -- [options]
  --quick          development mode: one round, smaller blobs, 1 s load runs, 1,000 tokens instead
                   of 10,000 in manifest-get-1000 (a minute or two)
  --rounds N       measured rounds per scenario (default 3; 1 with --quick)
  --only a,b       run only these scenarios (ids are printed in the table)
  --out FILE       JSON results (default bench/results/latest.json, latest-quick.json with --quick;
                   both git-ignored)
  --snapshot       also copy the JSON to bench/results/<YYYY-MM-DD>.json (<date>-quick.json with
                   --quick), a dated run to commit and cite
  --keep           keep the work directory (logs, registry storage) for inspection
  --no-wait        do not wait for the machine to be quiet before each run (see "quiet gate")
  --profile        instead of the table: CPU profiles of the proxy (manifest GET, 1 GiB blob GET,
                   1 GiB upload; node-relay on the same uploads) into bench/results/profile-*.txt,
                   and a --max-semi-space-size sweep
Environment: BENCH_TMPDIR (default /dev/shm when it has room, else the system temp dir).
`;

/** Blob sizes (bytes), load durations (s), rounds and pulls; written to the JSON as is. */
export interface Sizes {
  mono: number;
  chunked: number;
  chunk: number;
  concEach: number;
  conc: number;
  small: number;
  loadSec: number;
  warmSec: number;
  rounds: number;
  pulls: number;
  /** The blob cache-cold-concurrent reads: a fresh one (new digest) per round. */
  cacheCold: number;
  /** Token exchanges the scale scenario makes before measuring (distinct repositories). */
  scaleTokens: number;
}

export function sizesFor(quick: boolean): Sizes {
  return quick
    ? {
        mono: 256 * MiB,
        chunked: 128 * MiB,
        chunk: 16 * MiB,
        concEach: 32 * MiB,
        conc: 8,
        small: 16 * MiB,
        loadSec: 1,
        warmSec: 0,
        rounds: 1,
        pulls: 100,
        cacheCold: 128 * MiB,
        scaleTokens: 1000,
      }
    : {
        mono: 1024 * MiB,
        chunked: 512 * MiB,
        chunk: 16 * MiB,
        concEach: 128 * MiB,
        conc: 8,
        small: 16 * MiB,
        loadSec: 2,
        warmSec: 1,
        rounds: 3,
        pulls: 100,
        cacheCold: 512 * MiB,
        scaleTokens: 10_000,
      };
}

export interface Options {
  help: boolean;
  quick: boolean;
  profile: boolean;
  keep: boolean;
  /** --no-wait: skip the quiet gate. */
  noWait: boolean;
  /** --snapshot: also write bench/results/<date>.json. */
  snapshot: boolean;
  /** Measured rounds per scenario. */
  rounds: number;
  only: Set<string> | undefined;
  out: string | undefined;
  sizes: Sizes;
}

/** Parses the flags (process.argv by default); throws on unknown flags and a bad --rounds. */
export function parseOptions(args: string[] = process.argv.slice(2)): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      profile: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      snapshot: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const sizes = sizesFor(quick);
  let rounds = sizes.rounds;
  if (values.rounds) {
    const n = Number(values.rounds);
    // NaN would make every scenario run zero rounds and report n/a everywhere.
    if (!Number.isFinite(n)) throw new Error(`--rounds: not a number: ${values.rounds}`);
    rounds = Math.max(1, n);
  }
  return {
    help: values.help === true,
    quick,
    profile: values.profile === true,
    keep: values.keep === true,
    noWait: values['no-wait'] === true,
    snapshot: values.snapshot === true,
    rounds,
    only: values.only ? new Set(values.only.split(',').map((s) => s.trim())) : undefined,
    out: values.out,
    sizes,
  };
}
