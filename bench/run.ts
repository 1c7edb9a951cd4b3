#!/usr/bin/env node
/**
 * Benchmark harness (`npm run bench`, via scripts/bench). On loopback it starts the real CNCF
 * distribution registry (open, token-auth, and a token-auth one with an access log for counting
 * upstream requests; all three share one storage directory), nginx as a plain reverse proxy in
 * front of them, and the proxy from dist/cli.js with a Connector + Secret file. Each scenario is
 * measured against direct (client to registry), nginx and the proxy in the same run, alternating
 * (direct, nginx, proxy, direct, nginx, proxy, ...), and the medians are compared.
 *
 *   scripts/bench [--quick] [--rounds N] [--only id,id] [--out file] [--keep] [--no-wait]
 *   scripts/bench --profile     CPU profiles of the proxy and a --max-semi-space-size sweep
 *
 * Results: a table on stdout, and the same as JSON in bench/results/latest.json
 * (latest-quick.json for --quick). See "Benchmark it" in README.md.
 *
 * Layout: lib/main.ts runs it all; lib/services.ts starts the upstreams and proxies (through
 * lib/servers.ts and lib/processes.ts); scenarios/index.ts lists the scenarios, one file each;
 * lib/runner.ts measures them (lib/sampling.ts reads /proc), lib/summary.ts and lib/report.ts
 * summarise, print and save; lib/profile-mode.ts is --profile.
 */
import { main } from './lib/main.ts';
import { parseOptions, USAGE } from './lib/options.ts';

const opts = parseOptions();
if (opts.help) process.stdout.write(USAGE);
else await main(opts);
