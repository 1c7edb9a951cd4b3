#!/usr/bin/env node
/**
 * Benchmark harness (`npm run bench`, via scripts/bench). On loopback it starts the real CNCF
 * distribution registry (open, token-auth, a token-auth one with an access log for counting
 * upstream requests, and an open one with an access log for counting the bytes a cache fetches;
 * all four share one storage directory), three anchors in front of open, token-auth and the
 * cold-start one: nginx (bench/nginx.conf, no buffering), nginx-tuned (bench/nginx-tuned.conf,
 * buffering on) and haproxy (bench/haproxy.cfg); and the proxy from dist/cli.js with a
 * Connector + Secret file: proxy, proxy-warn (--log-level warn), proxy-cache (--cache-dir). Each
 * scenario is measured against direct (client to registry), the anchors and the proxies in the
 * same run, alternating (direct, nginx, nginx-tuned, haproxy, proxy, ...), and the medians are
 * compared; goals against "the strongest anchor" take the best anchor of each scenario.
 *
 *   scripts/bench [--quick] [--rounds N] [--only id,id] [--out file] [--snapshot] [--keep] [--no-wait]
 *   scripts/bench --profile     CPU profiles of the proxy (node-relay beside it on uploads) and a --max-semi-space-size sweep
 *
 * Results: tables on stdout, and the same as JSON in bench/results/latest.json
 * (latest-quick.json for --quick; both git-ignored); --snapshot also copies it to
 * bench/results/<YYYY-MM-DD>.json, to commit. See "Benchmark it" in README.md.
 *
 * Layout: lib/main.ts runs it all; lib/services.ts starts the upstreams and proxies (through
 * lib/servers.ts, lib/anchors.ts and lib/processes.ts; lib/seed.ts makes the test data);
 * scenarios/index.ts lists the scenarios, one file each; lib/runner.ts measures them
 * (lib/sampling.ts reads /proc, lib/metrics.ts a proxy's /metrics), lib/summary.ts summarises,
 * lib/report.ts prints (lib/tables.ts, lib/notes.ts) and saves; lib/profile-mode.ts is --profile.
 */
import { main } from './lib/main.ts';
import { parseOptions, USAGE } from './lib/options.ts';

const opts = parseOptions();
if (opts.help) process.stdout.write(USAGE);
else await main(opts);
