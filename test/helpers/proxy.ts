/** The proxy under test: in-process (fast, inspectable) or as its own process (for RSS and signals). */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Connector } from '../../src/connectors/model.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { buildServer, type ProxyServer, type ServerOptions } from '../../src/server.ts';
import { Agent, fetch as undiciFetch } from 'undici';
import { shippedNodeFlags } from './node-flags.ts';
import { freePort, waitFor } from './ports.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningProxy {
  url: string;
  host: string;
  server: ProxyServer;
  logs: string[];
  stop(): Promise<void>;
}

/** A proxy in this process on 127.0.0.1, on `listenPort` or a port of its own. */
export async function startProxy(connectors: Connector[], extra: Partial<ServerOptions> = {}, listenPort = 0): Promise<RunningProxy> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger('debug', sink);
  const server = buildServer({ connectors, logger, ...extra });
  await server.app.listen({ host: '127.0.0.1', port: listenPort });
  const { port } = server.app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    server,
    logs,
    stop: () => server.close(),
  };
}

/** Requests an in-process proxy is serving for `connector` (`<ns>/<name>`) right now: its ocp_inflight_requests gauge. */
export async function inFlight(px: RunningProxy, connector: string): Promise<number> {
  const gauge = px.server.metrics?.registry.getSingleMetric('ocp_inflight_requests');
  if (!gauge) throw new Error('this proxy has no metrics');
  const { values } = await gauge.get();
  return values.find((v) => v.labels['connector'] === connector)?.value ?? 0;
}

export interface ProxyProcess {
  url: string;
  host: string;
  child: ChildProcess;
  output: () => string;
  /** Peak resident set size of the proxy process so far, in bytes (VmHWM). */
  peakRss(): Promise<number>;
  /** Resets the peak to the current RSS (/proc/<pid>/clear_refs), to measure one load at a time. */
  resetPeak(): Promise<void>;
  stop(): Promise<number | null>;
}

/**
 * The CLI as a process on a free loopback port, run by node with `nodeFlags` (by default the
 * shipped ones, so the memory and stall tests measure what users run); with `https`, it serves
 * HTTPS (the args name the files) and the readiness check trusts `ca`.
 */
export async function spawnProxy(args: string[], env: Record<string, string> = {}, https?: { ca: string }, nodeFlags: string[] = shippedNodeFlags()): Promise<ProxyProcess> {
  const port = await freePort();
  let out = '';
  const child = spawn(`${ROOT}/scripts/node`, [...nodeFlags, `${ROOT}/dist/cli.js`, '--listen', `127.0.0.1:${port}`, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  const url = `${https ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dispatcher = https && new Agent({ connect: { ca: https.ca } });
  await waitFor(`proxy on ${url}`, async () => {
    if (child.exitCode !== null) throw new Error(`proxy exited ${child.exitCode}: ${out}`);
    const res = await undiciFetch(`${url}/healthz`, dispatcher ? { dispatcher } : {});
    await res.arrayBuffer();
    return res.ok;
  }).finally(() => dispatcher?.close());
  return {
    url,
    host: `127.0.0.1:${port}`,
    child,
    output: () => out,
    async peakRss() {
      const { readFile } = await import('node:fs/promises');
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      return Number(kb) * 1024;
    },
    async resetPeak() {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(`/proc/${child.pid}/clear_refs`, '5');
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
