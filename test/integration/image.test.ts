/**
 * The image, built from the Dockerfile users build and run for real: dockerd builds it with
 * BuildKit on a stand-in for its base image (scripts/base-image: debootstrap bookworm, Node 24,
 * npm, the node user; kept between runs in /var/cache/ocp-test-images), runs it on the host
 * network with a connector file mounted and a read-only root file system, waits for its
 * HEALTHCHECK, and skopeo pushes and pulls through it to a token-auth registry whose credentials
 * only the container holds.
 */
import { createHash } from 'node:crypto';
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type Dockerd, startDockerd } from '../helpers/engines.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { freePort, waitFor } from '../helpers/ports.ts';
import { ROOT } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { run, skopeo } from '../helpers/tools.ts';

const USER = { username: 'image-robot', password: 'image-Pa55word-in-the-container' };
const BASE = 'node:24-bookworm-slim';
const TAG = 'oci-connector-proxy:test';
const CACHE = '/var/cache/ocp-test-images';
const dirs: string[] = [];
let ts: TokenServer;
let registry: Registry;
let dockerd: Dockerd;
let listen: number;

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The base image tarball, named after what makes it: the script and the Node binary's version. */
function baseTarball(): string {
  const script = readFileSync(join(ROOT, 'scripts/base-image'));
  const key = createHash('sha256').update(script).update(process.version).digest('hex').slice(0, 12);
  return join(CACHE, `node-${process.version}-bookworm-${key}.tar`);
}

interface ComposeService {
  build?: string;
  image?: string;
  network_mode?: string;
  ports?: string[];
  environment: Record<string, string>;
  volumes: string[];
}
interface ComposeFile {
  services: { proxy: ComposeService; registry: ComposeService };
}

const connectorFile = (port: number): string => `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata: { name: upstream, namespace: default }
spec:
  connectorClassName: oci
  address: http://127.0.0.1:${port}
  auth: { name: tokenAuth, secretRef: { name: upstream } }
---
apiVersion: v1
kind: Secret
metadata: { name: upstream, namespace: default }
type: cpaas.io/distribution-registry-token
stringData: { username: ${USER.username}, password: ${USER.password} }
`;

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  registry = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
  dockerd = await startDockerd(tempDir('ocp-image-dockerd-'), {});
  mkdirSync(CACHE, { recursive: true });
  const tarball = baseTarball();
  const made = await run(join(ROOT, 'scripts/base-image'), [tarball], 600_000);
  expect(made.code, made.stderr).toBe(0);
  const imported = await dockerd.docker(['import', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--change', 'CMD ["node"]', tarball, BASE]);
  expect(imported.code, imported.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  await dockerd?.docker(['rm', '--force', '--volumes', 'ocp']).catch(() => undefined);
  await dockerd?.stop();
  await registry?.stop();
  await ts?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 180_000);

describe('the image', () => {
  it('builds from the Dockerfile with BuildKit', async () => {
    const build = await dockerd.docker(['build', '--network', 'host', '--tag', TAG, ROOT], { env: { DOCKER_BUILDKIT: '1' }, timeoutMs: 900_000 });
    expect(build.code, build.stderr.slice(-4000)).toBe(0);
  }, 900_000);

  it('runs as the node user on a read-only root file system, turns healthy, and proxies with the credentials only it holds', async () => {
    const config = tempDir('ocp-image-config-');
    // As in a cluster: the file holds a password, so only the container's user (node, 1000) reads it.
    writeFileSync(join(config, 'connectors.yaml'), connectorFile(registry.port), { mode: 0o600 });
    chownSync(config, 1000, 1000);
    chownSync(join(config, 'connectors.yaml'), 1000, 1000);
    listen = await freePort();
    // prettier-ignore
    const started = await dockerd.docker([
      'run',
      '--detach',
      '--name',
      'ocp',
      '--network',
      'host',
      '--read-only',
      '--env',
      `OCP_LISTEN=127.0.0.1:${listen}`,
      '--env',
      'OCP_CONFIG=/etc/oci-connector-proxy/connectors.yaml',
      '--volume',
      `${config}:/etc/oci-connector-proxy:ro`,
      TAG,
    ]);
    expect(started.code, started.stderr).toBe(0);
    const state = async (): Promise<string> => (await dockerd.docker(['inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', 'ocp'])).stdout.trim();
    const healthy = async (): Promise<boolean> => {
      const s = await state();
      if (!s.startsWith('running')) throw new Error(`the container stopped: ${s}`);
      return s === 'running healthy';
    };
    await waitFor('the HEALTHCHECK', healthy, 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await state()}\n${(await dockerd.docker(['logs', 'ocp'])).stderr.slice(-2000)}`);
    });

    const uid = await dockerd.docker(['exec', 'ocp', 'sh', '-c', 'id -u; grep ^Uid: /proc/1/status']);
    expect(uid.stdout.split('\n')[0]).toBe('1000');
    expect(uid.stdout).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m); // the proxy process itself
    const write = await dockerd.docker(['exec', 'ocp', 'touch', '/app/written']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);

    const image = makeImage('amd64', [120_000, 4_000]);
    const layout = writeLayout([image], 'v1');
    dirs.push(layout.dir);
    const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://127.0.0.1:${listen}/team/app:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const out = tempDir('ocp-image-pulled-');
    for (const round of ['cold', 'cached']) {
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${listen}/team/app:v1`, `oci:${out}:${round}`]);
      expect([round, pull.code, pull.stderr]).toEqual([round, 0, pull.stderr]);
    }
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([image.manifestDigest, image.manifestDigest]);

    // The cache is on in the image and writes to its volume (the root stays read-only).
    const metrics = await fetch(`http://127.0.0.1:${listen}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/ocp_cache_requests_total\{[^}]*result="hit"[^}]*\} [1-9]/);
    const logs = await dockerd.docker(['logs', 'ocp']);
    expect(logs.stdout + logs.stderr).not.toContain(USER.password);
  }, 180_000);

  it('docker-compose brings up the proxy of the compose file in front of a registry:2 built the same way', async () => {
    // registry:2 as the compose file names it: Debian's distribution registry on the same base,
    // at the official image's paths.
    const context = tempDir('ocp-registry-image-');
    copyFileSync('/usr/bin/docker-registry', join(context, 'registry'));
    writeFileSync(join(context, 'config.yml'), 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n');
    writeFileSync(
      join(context, 'Dockerfile'),
      `FROM ${BASE}\nCOPY registry /bin/registry\nCOPY config.yml /etc/docker/registry/config.yml\nVOLUME /var/lib/registry\nEXPOSE 5000\nENTRYPOINT ["/bin/registry"]\nCMD ["serve", "/etc/docker/registry/config.yml"]\n`,
    );
    const built = await dockerd.docker(['build', '--network', 'host', '--tag', 'registry:2', context], { env: { DOCKER_BUILDKIT: '1' }, timeoutMs: 300_000 });
    expect(built.code, built.stderr.slice(-2000)).toBe(0);

    // The one change: this machine makes no bridges, so both services share the host's network,
    // each on a free loopback port (host networking takes no published ports), and the connector
    // names the registry by its port. The rest (build, volumes, environment) is the file's own.
    const [proxyPort, registryPort] = [await freePort(), await freePort()];
    const work = tempDir('ocp-compose-');
    chownSync(work, 1000, 1000);
    writeFileSync(
      join(work, 'connectors.yaml'),
      readFileSync(join(ROOT, 'fixtures/compose-connectors.yaml'), 'utf8').replace('http://registry:5000', `http://127.0.0.1:${registryPort}`),
    );
    const file = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;
    const { proxy: proxyService, registry: registryService } = file.services;
    const connectorsMount = proxyService.volumes.findIndex((v) => v.startsWith('./fixtures/compose-connectors.yaml:'));
    expect(connectorsMount).toBeGreaterThanOrEqual(0);
    proxyService.volumes[connectorsMount] = proxyService.volumes[connectorsMount]!.replace('./fixtures/compose-connectors.yaml', join(work, 'connectors.yaml'));
    delete proxyService.ports;
    Object.assign(proxyService, { build: ROOT, image: TAG, network_mode: 'host' });
    Object.assign(proxyService.environment, { OCP_LISTEN: `127.0.0.1:${proxyPort}` });
    Object.assign(registryService, { network_mode: 'host', environment: { ...registryService.environment, REGISTRY_HTTP_ADDR: `127.0.0.1:${registryPort}` } });
    writeFileSync(join(work, 'docker-compose.yml'), stringifyYaml(file));
    const compose = (args: string[]) =>
      run('docker-compose', ['--project-name', 'ocptest', '--file', join(work, 'docker-compose.yml'), ...args], 300_000, {
        DOCKER_HOST: `unix://${dockerd.socket}`,
      });
    const up = await compose(['up', '--detach']);
    expect(up.code, up.stderr).toBe(0);
    try {
      await waitFor(
        'the compose proxy',
        async () => (await dockerd.docker(['inspect', '--format', '{{.State.Health.Status}}', 'ocptest_proxy_1'])).stdout.trim() === 'healthy',
        60_000,
      );
      const image = makeImage('amd64', [50_000]);
      const layout = writeLayout([image], 'v1');
      dirs.push(layout.dir);
      const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://127.0.0.1:${proxyPort}/library/busybox:v1`]);
      expect(push.code, push.stderr).toBe(0);
      const direct = await fetch(`http://127.0.0.1:${registryPort}/v2/library/busybox/manifests/v1`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(direct.headers.get('docker-content-digest')).toBe(image.manifestDigest); // it reached the compose registry
    } finally {
      const down = await compose(['down', '--volumes']);
      expect(down.code, down.stderr).toBe(0);
    }
  }, 400_000);
});
