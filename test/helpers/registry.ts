/**
 * The real CNCF distribution registry (`docker-registry` from Debian) on a free loopback port,
 * with a temporary storage directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { freePort, waitFor } from './ports.ts';

export interface Registry {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  output: () => string;
  /** With accessLog: every request so far as `METHOD path status`. */
  requests: string[];
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Extra YAML appended at top level (e.g. an `auth:` section). */
  extraConfig?: string;
  /** Expected status of an anonymous GET /v2/ once ready (401 for auth modes). */
  readyStatus?: number;
  port?: number;
  dir?: string;
  /** Log every request (distribution's access log, on the process output): to count what reached it. */
  accessLog?: boolean;
  /**
   * HTTPS (distribution's http.tls) with this certificate; with clientCas, client certificates
   * signed by that bundle are required, and `client` is the one the readiness check shows.
   */
  tls?: { certPath: string; keyPath: string; clientCas?: string; client?: { cert: string; key: string } };
}

/** The docker-registry config the tests and the benchmark run: loopback, filesystem storage, deletes on. */
export function registryConfigYaml(o: {
  port: number;
  root: string;
  extra?: string | undefined;
  accessLog?: boolean | undefined;
  secret?: string;
  tls?: RegistryOptions['tls'];
}): string {
  const tls = o.tls ? `  tls:\n    certificate: ${o.tls.certPath}\n    key: ${o.tls.keyPath}\n${o.tls.clientCas ? `    clientcas:\n      - ${o.tls.clientCas}\n` : ''}` : '';
  return `version: 0.1
log:
  level: warn
  accesslog:
    disabled: ${o.accessLog ? 'false' : 'true'}
storage:
  filesystem:
    rootdirectory: ${o.root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${o.port}
${o.secret ? `  secret: ${o.secret}\n` : ''}${tls}${o.extra ?? ''}
`;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ocp-registry-'));
  const port = options.port ?? (await freePort());
  const config = registryConfigYaml({ port, root: join(dir, 'data'), extra: options.extraConfig, accessLog: options.accessLog, tls: options.tls });
  writeFileSync(join(dir, 'config.yml'), config);
  let out = '';
  const requests: string[] = [];
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
    if (options.accessLog) for (const m of d.toString().matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/1\.1" (\d{3})/g)) requests.push(`${m[1]} ${m[2]} ${m[3]}`);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const expected = options.readyStatus ?? 200;
  // The readiness check does not verify the registry's certificate; the tests do that through the proxy.
  const dispatcher = options.tls && new Agent({ connect: { rejectUnauthorized: false, ...(options.tls.client ?? {}) } });
  try {
    await waitFor(`docker-registry on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${out}`);
      const res = await undiciFetch(`${url}/v2/`, dispatcher ? { dispatcher } : {});
      await res.arrayBuffer();
      return res.status === expected;
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    await dispatcher?.close();
  }
  return {
    url,
    port,
    dir,
    process: child,
    output: () => out,
    requests,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
