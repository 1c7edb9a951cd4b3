/**
 * The scale scenario's set-up: its two connector files (1 connector; SCALE_CONNECTORS of them)
 * and the token exchanges that fill the big proxy's token cache before it is measured.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { type ConnectorSpec, configYaml } from '../../test/helpers/config-files.ts';
import type { TokenServer } from '../../test/helpers/token-server.ts';
import { SCALE_CONNECTORS, USER } from '../lib/constants.ts';
import type { Processes } from '../lib/processes.ts';
import { cpuBetween, snap } from '../lib/sampling.ts';
import type { ProxyProcess } from '../lib/servers.ts';
import type { Env } from '../lib/services.ts';

/**
 * connectors-1.yaml: default/open alone. connectors-1000.yaml: default/open (the one measured),
 * default/secure (token auth, whose tokens fill the cache) and ns-N/c-N to the open registry
 * for the rest, SCALE_CONNECTORS in all.
 */
export function writeScaleConfigs(work: string, env: Env): { one: string; many: string } {
  const open: ConnectorSpec = { namespace: 'default', name: 'open', address: env.open.url };
  const secure: ConnectorSpec = { namespace: 'default', name: 'secure', address: env.secure.url, secret: USER };
  const others = Array.from({ length: SCALE_CONNECTORS - 2 }, (_, i): ConnectorSpec => ({ namespace: `ns-${i + 1}`, name: `c-${i + 1}`, address: env.open.url }));
  const one = join(work, 'connectors-1.yaml');
  const many = join(work, `connectors-${SCALE_CONNECTORS}.yaml`);
  writeFileSync(one, configYaml([open]));
  writeFileSync(many, configYaml([open, secure, ...others]));
  return { one, many };
}

export interface TokenFill {
  requests: number;
  concurrency: number;
  seconds: number;
  /** Token exchanges the token server counted meanwhile. */
  exchanges: number;
  /** Client statuses (the token-auth registry answers 404 for these repositories). */
  statuses: Record<string, number>;
  /** CPU seconds by component meanwhile (client: this process, which also runs the token server). */
  cpuS: Record<string, number>;
}

/**
 * `n` manifest GETs through `proxy`'s default/secure connector, each of its own repository
 * (scale/r-<i>, so each needs a token of its own scope), `concurrency` at a time.
 */
export async function fillTokens(procs: Processes, proxy: ProxyProcess, ts: TokenServer, n: number, concurrency: number): Promise<TokenFill> {
  const before = snap(procs.live);
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const statuses: Record<string, number> = {};
  const exchanges0 = ts.counts.total;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      const res = await request(`${proxy.url}/v2/namespaces/default/connectors/secure/scale/r-${i}/manifests/v1`, { dispatcher: agent });
      await res.body.dump();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await agent.close();
  }
  const { cpu } = cpuBetween(before, snap(procs.live), 0);
  return { requests: n, concurrency, seconds: (performance.now() - t0) / 1000, exchanges: ts.counts.total - exchanges0, statuses, cpuS: cpu };
}
