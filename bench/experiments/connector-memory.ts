/**
 * What a connector costs at rest: a fresh proxy (dist/cli.js, the shipped node flags, no health
 * interval, no traffic) with 1 connector and with N to the same registry, its RSS, anonymous
 * RSS and V8 heap 12 s after start (start-up probes done), median of the rounds.
 *
 *   npm run build && scripts/node bench/experiments/connector-memory.ts [N=1000] [rounds=3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { configYaml } from '../../test/helpers/config-files.ts';
import { freePort, waitFor } from '../../test/helpers/ports.ts';
import { startRegistry } from '../../test/helpers/registry.ts';
import { ROOT } from '../lib/constants.ts';
import { defaultProxyNodeFlags } from '../lib/servers.ts';

const REST_MS = 12_000;
const MiB = 1024 * 1024;

const kib = (file: string, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'))?.[1]) * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function atRest(config: string): Promise<{ rss: number; anon: number; heap: number }> {
  const port = await freePort();
  const args = [...defaultProxyNodeFlags(), join(ROOT, 'dist', 'cli.js'), '--config', config, '--listen', `127.0.0.1:${port}`, '--health-interval', '0', '--log-level', 'warn'];
  const proxy = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const started = performance.now();
    await waitFor(
      'proxy',
      async () =>
        request(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.body.dump().then(() => r.statusCode === 200),
          () => false,
        ),
      30_000,
    );
    await new Promise((r) => setTimeout(r, REST_MS - (performance.now() - started)));
    const metrics = await (await request(`http://127.0.0.1:${port}/metrics`)).body.text();
    const heap = Number(/^ocp_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1]);
    return { rss: kib(`/proc/${proxy.pid}/status`, 'VmRSS'), anon: kib(`/proc/${proxy.pid}/smaps_rollup`, 'Anonymous'), heap };
  } finally {
    proxy.kill();
  }
}

const n = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 3);
const registry = await startRegistry();
const dir = mkdtempSync(join(tmpdir(), 'ocp-connector-memory-'));
try {
  const files = [1, n].map((count) => {
    const file = join(dir, `connectors-${count}.yaml`);
    writeFileSync(file, configYaml(Array.from({ length: count }, (_, i) => ({ namespace: `ns-${i}`, name: `c-${i}`, address: registry.url }))));
    return { count, file, runs: [] as { rss: number; anon: number; heap: number }[] };
  });
  for (let r = 0; r < rounds; r++) for (const f of files) f.runs.push(await atRest(f.file));
  const [one, many] = files.map((f) => ({
    count: f.count,
    rss: median(f.runs.map((x) => x.rss)),
    anon: median(f.runs.map((x) => x.anon)),
    heap: median(f.runs.map((x) => x.heap)),
  }));
  for (const m of [one!, many!])
    console.log(
      `${String(m.count).padStart(5)} connectors: RSS ${(m.rss / MiB).toFixed(1)} MiB, anonymous ${(m.anon / MiB).toFixed(1)} MiB, heap used ${(m.heap / MiB).toFixed(1)} MiB`,
    );
  const per = (a: number, b: number): string => ((b - a) / (n - 1) / 1024).toFixed(0);
  console.log(
    `per connector: RSS ${per(one!.rss, many!.rss)} KiB, anonymous ${per(one!.anon, many!.anon)} KiB, heap ${per(one!.heap, many!.heap)} KiB (medians of ${rounds}, ${REST_MS / 1000} s after start)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await registry.stop();
}
