/**
 * podman and buildah push and pull through the proxy to the real distribution registry in token
 * mode, holding no credentials of their own: the proxy's connector holds the token server user.
 *
 * Every podman/buildah run is isolated in one temp dir: storage (`--root`, `--runroot`,
 * `--storage-driver vfs`, also in a private storage.conf), `--tmpdir`, HOME and XDG dirs,
 * containers.conf, registries.conf, policy.json and an auth file with no credentials
 * (`{"auths":{}}`; a 0-byte file is a JSON error to podman 4.3). As root, containers/image keeps
 * its blob-info cache in /var/lib/containers/cache whatever `--root` says, and podman creates
 * /run/containers (where root's default auth file lives); when `unshare --mount` is allowed, each
 * run gets both bind-mounted from the temp dir in a private mount namespace (the mount points are
 * created, empty, when missing), so no state is shared with the host or between runs; podman still
 * reads /etc/containers/registries.conf.d and registries.d (short-name aliases, signature
 * storage), which the fully qualified names here do not use. Pull, push, `buildah copy` and
 * `buildah commit` need no container runtime: no `podman run` or `buildah run` here.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PullThroughCache } from '../../src/cache/cache.ts';
import { MT, makeImage, sha256, writeLayout, type Image } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { run, skopeo, type RunResult } from '../helpers/tools.ts';
import { proxyAddress, renderConfiguration } from '../../src/configurations/render.ts';
import { mirrorsOf, renderMirror } from '../../src/configurations/mirrors.ts';
import type { Connector } from '../../src/connectors/model.ts';

const RW = { username: 'podman-writer', password: 'pm-rw-S3cret-pa55' };
/** Per client command; the whole file takes a few seconds. */
const CMD_TIMEOUT = 30_000;

let ts: TokenServer;
let registry: Registry;
let proxy: RunningProxy;
let upstreamConnector: Connector;
let sandbox: string;
let env: Record<string, string>;
/** Whether each client run gets a private mount namespace (see the file comment). */
let masked = false;
let image: Image;
const cleanup: string[] = [];
/** Everything the clients printed, for the leak scan. */
const seenByClients: string[] = [];

/** In a private mount namespace: the blob-info cache and /run/containers come from the sandbox. */
const MASK_SCRIPT = [
  'set -e',
  'mkdir -p /var/lib/containers/cache /run/containers',
  'mount --bind "$OCP_SANDBOX/blob-info-cache" /var/lib/containers/cache',
  'mount --bind "$OCP_SANDBOX/run-containers" /run/containers',
  'exec "$@"',
].join('\n');

async function client(cmd: string, args: string[], timeoutMs = CMD_TIMEOUT): Promise<RunResult> {
  const r = masked
    ? await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', MASK_SCRIPT, 'sh', cmd, ...args], timeoutMs, env)
    : await run(cmd, args, timeoutMs, env);
  seenByClients.push(r.stdout, r.stderr);
  return r;
}

function storageFlags(): string[] {
  return ['--root', join(sandbox, 'root'), '--runroot', join(sandbox, 'runroot'), '--storage-driver', 'vfs'];
}
function podman(args: string[], timeoutMs?: number): Promise<RunResult> {
  return client('podman', [...storageFlags(), '--tmpdir', join(sandbox, 'libpod-tmp'), '--cgroup-manager=cgroupfs', '--events-backend=file', ...args], timeoutMs);
}
function buildah(args: string[], timeoutMs?: number): Promise<RunResult> {
  return client('buildah', [...storageFlags(), ...args], timeoutMs);
}

/** The sandbox: every path podman and buildah read or write, under one temp dir. */
function makeSandbox(): void {
  sandbox = mkdtempSync(join(tmpdir(), 'ocp-podman-'));
  const d = (...p: string[]): string => {
    const path = join(sandbox, ...p);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    return path;
  };
  for (const p of ['root', 'runroot', 'libpod-tmp', 'tmp', 'blob-info-cache', 'run-containers', 'xdg-runtime', 'xdg-data', 'xdg-cache', 'conf', 'docker']) d(p);
  const home = d('home');
  const containersConfigDir = d('home', '.config', 'containers');
  const conf = (name: string, text: string): string => {
    const path = join(sandbox, 'conf', name);
    writeFileSync(path, text);
    return path;
  };
  const registriesConf = conf('registries.conf', 'unqualified-search-registries = []\n');
  const containersConf = conf('containers.conf', '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n');
  const storageConf = conf('storage.conf', `[storage]\ndriver = "vfs"\ngraphroot = "${join(sandbox, 'root')}"\nrunroot = "${join(sandbox, 'runroot')}"\n`);
  const authFile = conf('auth.json', '{"auths":{}}\n');
  // containers/image prefers $HOME/.config/containers/policy.json over /etc/containers/policy.json.
  writeFileSync(join(containersConfigDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  env = {
    OCP_SANDBOX: sandbox,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_RUNTIME_DIR: join(sandbox, 'xdg-runtime'),
    XDG_DATA_HOME: join(sandbox, 'xdg-data'),
    XDG_CACHE_HOME: join(sandbox, 'xdg-cache'),
    TMPDIR: join(sandbox, 'tmp'),
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    REGISTRIES_CONFIG_PATH: registriesConf,
    REGISTRY_AUTH_FILE: authFile,
    DOCKER_CONFIG: join(sandbox, 'docker'),
  };
}

/** Reads the registry directly, with a pull token signed by the fixture. */
/** Runs `fn` with `text` as podman's and buildah's registries.conf. */
async function withRegistriesConf(text: string, fn: () => Promise<void>): Promise<void> {
  const path = join(sandbox, 'conf', `registries-${Date.now()}.conf`);
  writeFileSync(path, text);
  const saved = env.CONTAINERS_REGISTRIES_CONF!;
  env.CONTAINERS_REGISTRIES_CONF = path;
  env.REGISTRIES_CONFIG_PATH = path;
  try {
    await fn();
  } finally {
    env.CONTAINERS_REGISTRIES_CONF = saved;
    env.REGISTRIES_CONFIG_PATH = saved;
  }
}

/** How many GETs of `endpoint` (blob, manifest) the proxy answered 200, from log line `since` on. */
function gets(since: number, endpoint: string): number {
  return proxy.logs
    .slice(since)
    .map((l) => JSON.parse(l) as { msg: string; endpoint?: string; method?: string; status?: number })
    .filter((l) => l.msg === 'request' && l.endpoint === endpoint && l.method === 'GET' && l.status === 200).length;
}

async function registryGet(path: string, accept?: string): Promise<Response> {
  const token = ts.issueToken({ access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (accept) headers.accept = accept;
  return fetch(`${registry.url}${path}`, { headers });
}
interface Manifest {
  mediaType?: string;
  config: { digest: string };
  layers: { mediaType: string; digest: string; size: number }[];
}
async function registryManifest(tag: string): Promise<{ digest: string | null; manifest: Manifest }> {
  const res = await registryGet(`/v2/team/app/manifests/${tag}`, `${MT.manifest}, application/vnd.docker.distribution.manifest.v2+json`);
  expect(res.status, `registry manifest ${tag}`).toBe(200);
  return { digest: res.headers.get('docker-content-digest'), manifest: (await res.json()) as Manifest };
}

/** Regular files of a (possibly gzipped) tar archive, by name without a leading './'. */
function tarFiles(archive: Buffer): Map<string, Buffer> {
  const tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  const files = new Map<string, Buffer>();
  const str = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = str(header.subarray(0, 100));
    const prefix = header.subarray(257, 262).toString() === 'ustar' ? str(header.subarray(345, 500)) : '';
    const size = parseInt(str(header.subarray(124, 136)).trim() || '0', 8);
    const type = String.fromCharCode(header[156]!);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === '0' || type === '\0') files.set((prefix ? `${prefix}/${name}` : name).replace(/^\.\//, ''), Buffer.from(body));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

beforeAll(async () => {
  ts = await startTokenServer({ users: { [RW.username]: { password: RW.password, rights: () => ['*'] } } });
  registry = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
  upstreamConnector = connectorFor(registry.url, { credentials: { username: RW.username, password: RW.password } });
  proxy = await startProxy([upstreamConnector]);
  makeSandbox();
  const probe = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', MASK_SCRIPT, 'sh', 'true'], 10_000, env);
  masked = probe.code === 0;
  if (!masked) console.log(`podman runs share the host's blob-info cache: unshare --mount failed: ${probe.stderr.trim()}`);

  // Seed team/app:v1 through the proxy.
  image = makeImage('amd64', [300_000, 20_000]);
  const src = writeLayout([image], 'v1');
  cleanup.push(src.dir);
  const push = await skopeo(['copy', '--dest-tls-verify=false', src.ref, `docker://${proxy.host}/team/app:v1`], CMD_TIMEOUT);
  expect(push.code, push.stderr).toBe(0);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  const authFile = sandbox ? readFileSync(env.REGISTRY_AUTH_FILE!, 'utf8') : undefined;
  // vfs storage is plain directories (no mounts), so root removes it all.
  if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  const secrets = [RW.password, ...(ts?.secrets() ?? [])].filter((s) => s.length >= 8);
  await ts?.stop();
  // The auth file is still credential-free: nothing logged podman in.
  if (authFile !== undefined) expect(JSON.parse(authFile)).toEqual({ auths: {} });
  // No secret reached a client's output or a proxy log line.
  const haystacks = [...seenByClients, ...(proxy?.logs ?? [])];
  for (const secret of secrets) {
    const hit = haystacks.find((h) => h.includes(secret));
    expect(hit === undefined ? undefined : `secret found in: ${hit.slice(0, 200)}`).toBeUndefined();
  }
});

describe('podman and buildah through the proxy, holding no credentials', () => {
  it('podman pulls, tags and pushes through the proxy; the registry holds v2 with the same config', async () => {
    const v1 = `${proxy.host}/team/app:v1`;
    const v2 = `${proxy.host}/team/app:v2`;
    const pull = await podman(['pull', '--tls-verify=false', v1]);
    expect(pull.code, pull.stderr).toBe(0);
    // podman's image ID is the config digest.
    expect(pull.stdout.trim()).toBe(sha256(image.config).slice(7));
    const inspect = await podman(['image', 'inspect', '--format', '{{.Id}} {{.Digest}}', v1]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout.trim()).toBe(`${sha256(image.config).slice(7)} ${image.manifestDigest}`);

    const tag = await podman(['tag', v1, v2]);
    expect(tag.code, tag.stderr).toBe(0);
    const digestFile = join(sandbox, 'v2.digest');
    const push = await podman(['push', '--tls-verify=false', '--digestfile', digestFile, v2]);
    expect(push.code, push.stderr).toBe(0);

    const { digest, manifest } = await registryManifest('v2');
    expect(manifest.config.digest).toBe(sha256(image.config));
    expect(manifest.layers).toHaveLength(image.layers.length);
    expect(digest).toBe(readFileSync(digestFile, 'utf8').trim());
    for (const layer of manifest.layers) {
      const res = await registryGet(`/v2/team/app/blobs/${layer.digest}`);
      expect(res.status, layer.digest).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(layer.digest);
    }

    // Only the proxy ever authenticated, as the connector's user (its tokens from the seeding
    // push may still be cached, so this test may need no new exchange).
    expect(ts.requests.length).toBeGreaterThan(0);
    expect(ts.requests.filter((r) => r.user !== RW.username || r.status !== 200)).toEqual([]);
  });

  it('buildah pulls v2, adds a layer, commits and pushes v3 through the proxy; podman pulls it back', async () => {
    const from = await buildah(['from', '--pull=always', '--tls-verify=false', '--retry=0', '--name', 'ocp-work', `${proxy.host}/team/app:v2`]);
    expect(from.code, from.stderr).toBe(0);
    expect(from.stdout.trim().split('\n').at(-1)).toBe('ocp-work');
    const content = Buffer.from(`added by buildah through the proxy ${Date.now()}\n`);
    const file = join(sandbox, 'hello.txt');
    writeFileSync(file, content);
    const copy = await buildah(['copy', 'ocp-work', file, '/hello.txt']);
    expect(copy.code, copy.stderr).toBe(0);
    const config = await buildah(['config', '--label', 'org.example.via=oci-connector-proxy', 'ocp-work']);
    expect(config.code, config.stderr).toBe(0);
    const v3 = `${proxy.host}/team/app:v3`;
    const commit = await buildah(['commit', '--format', 'oci', 'ocp-work', v3]);
    expect(commit.code, commit.stderr).toBe(0);
    const imageId = commit.stdout.trim().split('\n').at(-1)!;
    const digestFile = join(sandbox, 'v3.digest');
    const push = await buildah(['push', '--tls-verify=false', '--retry=0', '--digestfile', digestFile, v3]);
    expect(push.code, push.stderr).toBe(0);
    expect((await buildah(['rm', 'ocp-work'])).code).toBe(0);

    const { digest, manifest } = await registryManifest('v3');
    expect(digest).toBe(readFileSync(digestFile, 'utf8').trim());
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
    expect(manifest.layers).toHaveLength(image.layers.length + 1);
    const cfgRes = await registryGet(`/v2/team/app/blobs/${manifest.config.digest}`);
    expect(cfgRes.status).toBe(200);
    const cfg = (await cfgRes.json()) as { rootfs: { diff_ids: string[] }; config: { Labels?: Record<string, string> } };
    const baseDiffIds = (JSON.parse(image.config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    expect(cfg.rootfs.diff_ids.slice(0, baseDiffIds.length)).toEqual(baseDiffIds);
    expect(cfg.rootfs.diff_ids).toHaveLength(baseDiffIds.length + 1);
    expect(cfg.config.Labels?.['org.example.via']).toBe('oci-connector-proxy');

    // The new layer, read through the proxy, holds the file.
    const top = manifest.layers.at(-1)!;
    const layerRes = await fetch(`${proxy.url}/v2/team/app/blobs/${top.digest}`);
    expect(layerRes.status).toBe(200);
    const layer = Buffer.from(await layerRes.arrayBuffer());
    expect(sha256(layer)).toBe(top.digest);
    expect(tarFiles(layer).get('hello.txt')).toEqual(content);

    // podman, from an emptied store, pulls the buildah image back through the proxy.
    const rmi = await podman(['rmi', '--all', '--force']);
    expect(rmi.code, rmi.stderr).toBe(0);
    const pull = await podman(['pull', '--tls-verify=false', v3]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(imageId);

    expect(ts.requests.length).toBeGreaterThan(0);
    expect(ts.requests.filter((r) => r.user !== RW.username || r.status !== 200)).toEqual([]);
  });

  it('podman alone cannot pull from the token-auth registry (it holds no credentials)', async () => {
    const before = ts.requests.length;
    const direct = await podman(['pull', '--tls-verify=false', `${new URL(registry.url).host}/team/app:v1`]);
    expect(direct.code).not.toBe(0);
    expect(direct.stderr).toMatch(/unauthorized|authentication required/i);
    // podman asked the token server anonymously and got nothing it could use.
    expect(ts.requests.slice(before).every((r) => r.user === null)).toBe(true);
  });

  it('podman pulls with the rendered registries.conf instead of --tls-verify=false', async () => {
    const v1 = `${proxy.host}/team/app:v1`;
    const rmi = await podman(['rmi', '--all', '--force']);
    expect(rmi.code, rmi.stderr).toBe(0);
    // Without it podman insists on TLS, and the proxy speaks plain HTTP.
    const refused = await podman(['pull', v1]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/http: server gave HTTP response to HTTPS client/);

    const rendered = renderConfiguration('registries.conf', proxyAddress({ namespace: 'default', name: 'upstream' }, { mode: 'path', proxyHost: proxy.host }));
    await withRegistriesConf(`unqualified-search-registries = []\n\n${rendered}`, async () => {
      const pull = await podman(['pull', v1]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it("podman and buildah pull the image under the registry's own name with mirror-registries.conf as their only registries configuration", async () => {
    const upstreamName = `${new URL(registry.url).host}/team/app:v1`;
    const mirror = mirrorsOf(upstreamConnector, { mode: 'path', proxyHost: proxy.host })[0]!;
    const rendered = renderMirror('mirror-registries.conf', mirror);
    expect(rendered).toContain(`prefix = "${new URL(registry.url).host}"`);
    await withRegistriesConf(rendered, async () => {
      const rmi = await podman(['rmi', '--all', '--force']);
      expect(rmi.code, rmi.stderr).toBe(0);
      const before = proxy.logs.length;
      const pull = await podman(['pull', upstreamName]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout.trim()).toBe(sha256(image.config).slice(7));
      // The registry refuses anonymous pulls: the bytes came through the proxy, the mirror.
      expect(gets(before, 'blob')).toBe(image.layers.length + 1);
      const listed = await podman(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(listed.stdout.split('\n')).toContain(upstreamName);

      const beforeBuildah = proxy.logs.length;
      const from = await buildah(['from', '--pull-always', '--name', 'ocp-mirror', upstreamName]);
      expect(from.code, from.stderr).toBe(0);
      expect(gets(beforeBuildah, 'manifest')).toBeGreaterThan(0); // it asked the mirror again
      expect((await buildah(['rm', 'ocp-mirror'])).code).toBe(0);
    });
  });

  it('podman pulls through the pull-through cache: the second pull comes from the store, the image is the same', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ocp-podman-cache-'));
    cleanup.push(cacheDir);
    const cache = await PullThroughCache.open({ dir: cacheDir, maxBytes: 256 * 1024 * 1024 });
    const cached = await startProxy([connectorFor(registry.url, { credentials: { username: RW.username, password: RW.password } })], { cache });
    try {
      const v1 = `${cached.host}/team/app:v1`;
      for (const round of ['cold', 'warm']) {
        const rmi = await podman(['rmi', '--all', '--force']);
        expect(rmi.code, rmi.stderr).toBe(0);
        const pull = await podman(['pull', '--tls-verify=false', v1]);
        expect([round, pull.code, pull.stderr]).toEqual([round, 0, pull.stderr]);
        expect(pull.stdout.trim()).toBe(sha256(image.config).slice(7));
      }
      const blobs = cached.logs
        .map((l) => JSON.parse(l) as { msg: string; endpoint?: string; method?: string; cache?: string })
        .filter((l) => l.msg === 'request' && l.endpoint === 'blob' && l.method === 'GET');
      expect(blobs.slice(0, 3).map((l) => l.cache)).toEqual(['miss', 'miss', 'miss']);
      expect(blobs.slice(3).map((l) => l.cache)).toEqual(['hit', 'hit', 'hit']);
    } finally {
      await cached.stop();
    }
  });
});
