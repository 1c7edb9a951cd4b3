/**
 * Starting each kind of server a run uses but the anchors (lib/anchors.ts), and waiting until it
 * answers on its port: the CNCF distribution registry, the proxy (dist/cli.js) and the test
 * token server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { shippedNodeFlags } from '../../test/helpers/node-flags.ts';
import { freePort, waitFor } from '../../test/helpers/ports.ts';
import { registryConfigYaml } from '../../test/helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../../test/helpers/token-server.ts';
import { ROOT, USER } from './constants.ts';
import { exited, type Proc, type Processes, tail } from './processes.ts';
import { storageDir } from './workdir.ts';

export interface Registry {
  name: string;
  url: string;
  port: number;
  proc: Proc;
}

export interface ProxyProcess {
  name: string;
  url: string;
  proc: Proc;
}

/** GETs `url` and tells whether the status is one of `ok`; throws when `proc` has exited. */
async function answers(proc: Proc, url: string, ok: number[], why: () => string): Promise<boolean> {
  if (exited(proc)) throw new Error(why());
  const res = await request(url);
  await res.body.dump();
  return ok.includes(res.statusCode);
}

/** The token server (in this process), stopped at clean-up; knows the one benchmark user. */
export async function startTokens(procs: Processes): Promise<TokenServer> {
  const ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } }, expiresIn: 3600 });
  procs.onCleanup(() => ts.stop());
  return ts;
}

/** A registry on the shared storage; ready when /v2/ answers `readyStatus` (200 open, 401 token auth). */
export async function startRegistry(procs: Processes, name: string, extra: string, readyStatus: number, accessLog: boolean): Promise<Registry> {
  const port = await freePort();
  const config = join(procs.work, `${name}.yml`);
  writeFileSync(config, registryConfigYaml({ port, root: storageDir(procs.work), extra, accessLog, secret: 'ocp-bench-upload-state-secret' }));
  const proc = procs.spawn(name, 'registry', 'docker-registry', ['serve', config]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} on ${url}`, () => answers(proc, `${url}/v2/`, [readyStatus], () => `docker-registry exited: ${tail(proc.log)}`));
  return { name, url, port, proc };
}

/**
 * Node flags the proxy runs with unless a scenario sets its own: the ones it ships with, read from
 * `npm start` (test/unit/node-flags.test.ts keeps the Dockerfile's ENTRYPOINT the same);
 * BENCH_PROXY_NODE_FLAGS overrides ('' for none).
 */
export function defaultProxyNodeFlags(): string[] {
  return (process.env['BENCH_PROXY_NODE_FLAGS'] ?? shippedNodeFlags().join(' ')).split(' ').filter(Boolean);
}

/** dist/cli.js with `configFile` and `args`, on a free port; ready when /healthz answers 200. */
export async function startProxy(procs: Processes, name: string, configFile: string, args: string[], nodeFlags: string[] = defaultProxyNodeFlags()): Promise<ProxyProcess> {
  const port = await freePort();
  const cli = [join(ROOT, 'dist', 'cli.js'), '--config', configFile, '--listen', `127.0.0.1:${port}`, ...args];
  const proc = procs.spawn(name, 'proxy', join(ROOT, 'scripts', 'node'), [...nodeFlags, ...cli]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`proxy ${name} on ${url}`, () => answers(proc, `${url}/healthz`, [200], () => `proxy exited: ${tail(proc.log)}`), 30_000);
  return { name, url, proc };
}

/** Waits until a connector's first health check has finished, so its requests are not counted. */
export async function healthChecked(proxy: ProxyProcess, connector: string): Promise<void> {
  try {
    await waitFor(
      `first health check of ${connector}`,
      async () => {
        const res = await request(`${proxy.url}/connectors/${connector}`);
        const body = (await res.body.json()) as { status?: { checkedAt?: unknown } };
        return res.statusCode === 200 && body.status?.checkedAt !== undefined;
      },
      5_000,
    );
  } catch {
    // an older or newer proxy without checkedAt: go on
  }
}
