/**
 * The real engines with the files the proxy renders: containerd (ctr) pulling images under
 * their own names through the proxy as a mirror, and pushing through it; dockerd pulling and
 * pushing in path and host mode by a name it cannot see is loopback, building with its builtin
 * BuildKit FROM the proxy and using the proxy as its Docker Hub mirror (under --access static
 * with the rendered config.json), and pulling through the pull-through cache. The upstream
 * registry refuses anonymous pulls, so an engine that fell back to it would fail.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, hashToken } from '../../src/access/control.ts';
import { PullThroughCache } from '../../src/cache/cache.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { addHosts, type Containerd, type Dockerd, startContainerd, startDockerd } from '../helpers/engines.ts';
import { basic, http } from '../helpers/http.ts';
import { makeImage, type Image, pushImage, writeLayout } from '../helpers/oci.ts';
import { freePort } from '../helpers/ports.ts';
import { type RunningProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const USER = { username: 'engine-robot', password: 'engine-Pa55word' };
const TOKEN = 'engine-proxy-token-0123456789abcdef';
const UPSTREAM_NAME = 'registry.ocp.test';
const PROXY_NAME = 'proxy.ocp.test';
const dirs: string[] = [];
const stops: (() => Promise<unknown> | unknown)[] = [];
let ts: TokenServer;
let secured: Registry; // token auth: refuses anonymous pulls
let hubStandIn: Registry; // an open registry standing in for Docker Hub
let other: Registry; // an open registry no connector serves
let proxy: RunningProxy;
let image: Image;
let hubImage: Image; // other layers, so dockerd has none of them yet
const port = (p: RunningProxy): number => Number(p.host.split(':')[1]);

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A rendered file of a connector, as the proxy serves it to a caller with the token. */
async function served(connector: string, file: string, host = proxy.host): Promise<string> {
  const res = await http(`${proxy.url}/connectors/default/${connector}/configurations/${file}`, { headers: { authorization: basic('ci', TOKEN), host } });
  expect([file, res.status]).toEqual([file, 200]);
  return res.body.toString();
}

beforeAll(async () => {
  stops.push(addHosts([UPSTREAM_NAME, PROXY_NAME, 'c-secure.default.svc.cluster.local', 'c-hub.default.svc.cluster.local']));
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  [secured, hubStandIn, other] = await Promise.all([startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 }), startRegistry(), startRegistry()]);
  stops.push(
    () => ts.stop(),
    () => secured.stop(),
    () => hubStandIn.stop(),
    () => other.stop(),
  );
  // Host-mode addresses name the connector Services' port; here the proxy itself is that Service.
  const listen = await freePort();
  proxy = await startProxy(
    [
      connectorFor(`http://${UPSTREAM_NAME}:${secured.port}`, { name: 'secure', credentials: USER, params: { allowedRealmHosts: '127.0.0.1' } }),
      connectorFor(hubStandIn.url, { name: 'hub', params: { mirrorFor: 'docker.io' } }),
    ],
    { access: new AccessControl({ mode: 'static', tokens: [{ id: 'ci/engines', sha256: hashToken(TOKEN), connectors: ['*'] }] }), servicePort: listen },
    listen,
  );
  stops.push(() => proxy.stop());
  image = makeImage('amd64', [200_000, 3_000]);
  const layout = writeLayout([image], 'v1');
  dirs.push(layout.dir);
  const push = await skopeo([
    'copy',
    '--dest-tls-verify=false',
    '--dest-creds',
    `ci:${TOKEN}`,
    layout.ref,
    `docker://${proxy.host}/namespaces/default/connectors/secure/team/app:v1`,
  ]);
  expect(push.code, push.stderr).toBe(0);
  hubImage = makeImage('amd64', [150_000, 2_000]);
  await pushImage(hubStandIn.url, 'library/hubimg', 'v1', hubImage);
  await pushImage(other.url, 'elsewhere/app', 'v1', image);
}, 120_000);

afterAll(async () => {
  for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The proxy's request lines for blob GETs from `since` on. */
function blobGets(since: number): number {
  return proxy.logs.slice(since).filter((l) => l.includes('"msg":"request"') && l.includes('"endpoint":"blob"') && l.includes('"method":"GET"') && l.includes('"status":200'))
    .length;
}

describe('containerd (ctr) with the rendered files', () => {
  let containerd: Containerd;
  let hostsDir: string;
  beforeAll(async () => {
    containerd = await startContainerd(tempDir('ocp-containerd-'));
    stops.push(() => containerd.stop());
    hostsDir = tempDir('ocp-certsd-');
  });

  it('pulls an image under its own name through the proxy as its mirror (mirror-hosts.toml), the registry itself refusing anonymous pulls', async () => {
    const registry = `${UPSTREAM_NAME}:${secured.port}`;
    mkdirSync(join(hostsDir, registry), { recursive: true });
    writeFileSync(join(hostsDir, registry, 'hosts.toml'), await served('secure', 'mirror-hosts.toml'));
    const before = proxy.logs.length;
    const pull = await containerd.ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, `${registry}/team/app:v1`]);
    expect(pull.code, pull.stderr + pull.stdout).toBe(0);
    expect(blobGets(before)).toBe(image.layers.length + 1); // layers and config came through the proxy
    const list = await containerd.ctr(['images', 'ls', '-q']);
    expect(list.stdout).toContain(`${registry}/team/app:v1`);
  });

  it('a registry no connector serves: the proxy answers 404 at once and containerd falls back to the registry itself', async () => {
    const registry = `127.0.0.1:${other.port}`;
    mkdirSync(join(hostsDir, registry), { recursive: true });
    // The same shape as the rendered file, for a registry this proxy has no connector for.
    writeFileSync(
      join(hostsDir, registry, 'hosts.toml'),
      `server = "http://${registry}"\n\n[host."http://${proxy.host}"]\n  capabilities = ["pull", "resolve"]\n  [host."http://${proxy.host}".header]\n    Authorization = ["${basic('ci', TOKEN)}"]\n`,
    );
    const before = proxy.logs.length;
    const started = performance.now();
    const pull = await containerd.ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, `${registry}/elsewhere/app:v1`]);
    const ms = Math.round(performance.now() - started);
    expect(pull.code, pull.stderr + pull.stdout).toBe(0);
    const asked = proxy.logs.slice(before).filter((l) => l.includes('"msg":"request"'));
    console.log(`fallback pull through an unknown ns: ${ms} ms; the proxy answered ${asked.map((l) => JSON.parse(l).status).join(',')}`);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((l) => JSON.parse(l).status === 404)).toBe(true);
  });

  it('pushes through the proxy in path mode with the rendered hosts.toml', async () => {
    const registry = proxy.host;
    mkdirSync(join(hostsDir, registry), { recursive: true });
    writeFileSync(join(hostsDir, registry, 'hosts.toml'), await served('secure', 'hosts.toml'));
    const target = `${registry}/namespaces/default/connectors/secure/team/pushed:v1`;
    expect((await containerd.ctr(['images', 'tag', `${UPSTREAM_NAME}:${secured.port}/team/app:v1`, target])).code).toBe(0);
    const push = await containerd.ctr(['images', 'push', '--hosts-dir', hostsDir, '--user', `ci:${TOKEN}`, target]);
    expect(push.code, push.stderr + push.stdout).toBe(0);
    const check = await http(`${proxy.url}/v2/namespaces/default/connectors/secure/team/pushed/manifests/v1`, {
      method: 'HEAD',
      headers: { authorization: basic('ci', TOKEN), accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(check.headers['docker-content-digest']).toBe(image.manifestDigest);
  });
});

describe('dockerd with the rendered files', () => {
  let dockerd: Dockerd;
  let clientConfig: string;
  const pathAddress = (): string => `${PROXY_NAME}:${port(proxy)}`;
  const hostAddress = (): string => `c-secure.default.svc.cluster.local:${port(proxy)}`;
  beforeAll(async () => {
    // daemon.json: the rendered entries of path and host mode, and the Docker Hub mirror.
    const pathDaemon = JSON.parse(await served('secure', 'daemon.json', pathAddress())) as { 'insecure-registries': string[] };
    const mirrorDaemon = JSON.parse(await served('hub', 'mirror-daemon.json', pathAddress())) as { 'registry-mirrors': string[]; 'insecure-registries': string[] };
    const hostDaemon = JSON.parse(await renderedHostMode('daemon.json')) as { 'insecure-registries': string[] };
    const daemon = {
      'insecure-registries': [...pathDaemon['insecure-registries'], ...hostDaemon['insecure-registries'], ...mirrorDaemon['insecure-registries']],
      'registry-mirrors': mirrorDaemon['registry-mirrors'],
    };
    dockerd = await startDockerd(tempDir('ocp-dockerd-'), daemon);
    stops.push(() => dockerd.stop());
    // config.json: the caller's token for each address it uses (and under Docker Hub's key, for the mirror).
    clientConfig = tempDir('ocp-docker-config-');
    const auths = {
      ...(JSON.parse(await served('secure', 'config.json', pathAddress())) as { auths: object }).auths,
      ...(JSON.parse(await renderedHostMode('config.json')) as { auths: object }).auths,
      ...(JSON.parse(await served('hub', 'mirror-config.json', pathAddress())) as { auths: object }).auths,
    };
    writeFileSync(join(clientConfig, 'config.json'), JSON.stringify({ auths }));
  }, 120_000);

  /** A file as a proxy with --address-mode host would render it (host mode addresses the Service name). */
  async function renderedHostMode(file: string): Promise<string> {
    const { proxyAddress, renderConfiguration } = await import('../../src/configurations/render.ts');
    return renderConfiguration(file as 'config.json', proxyAddress({ namespace: 'default', name: 'secure' }, { mode: 'host', proxyHost: '', servicePort: port(proxy) }), {
      username: 'ci',
      password: TOKEN,
    });
  }

  it('pulls and pushes in path mode and in host mode, by names it cannot see are loopback', async () => {
    for (const address of [`${pathAddress()}/namespaces/default/connectors/secure`, hostAddress()]) {
      const pull = await dockerd.docker(['pull', `${address}/team/app:v1`], { config: clientConfig });
      expect([address, pull.code, pull.stderr]).toEqual([address, 0, pull.stderr]);
      expect((await dockerd.docker(['tag', `${address}/team/app:v1`, `${address}/team/docker-pushed:v1`])).code).toBe(0);
      const push = await dockerd.docker(['push', `${address}/team/docker-pushed:v1`], { config: clientConfig });
      expect([address, push.code, push.stderr]).toEqual([address, 0, push.stderr]);
    }
  });

  it('builds with its builtin BuildKit FROM the proxy by a non-loopback name, and pushes the result', async () => {
    const context = tempDir('ocp-build-');
    const base = `${pathAddress()}/namespaces/default/connectors/secure/team/app:v1`;
    writeFileSync(join(context, 'Dockerfile'), `FROM ${base}\nCOPY added.txt /added.txt\n`);
    writeFileSync(join(context, 'added.txt'), 'built through the proxy\n');
    const tag = `${pathAddress()}/namespaces/default/connectors/secure/team/built:v1`;
    const build = await dockerd.docker(['build', '--network', 'host', '-t', tag, context], { config: clientConfig, env: { DOCKER_BUILDKIT: '1' } });
    expect(build.code, build.stderr).toBe(0);
    const push = await dockerd.docker(['push', tag], { config: clientConfig });
    expect(push.code, push.stderr).toBe(0);
  });

  it('pulls through the pull-through cache: after rmi the same image comes from the store', async () => {
    const cache = await PullThroughCache.open({ dir: tempDir('ocp-engine-cache-'), maxBytes: 256 * 1024 * 1024 });
    const secure = connectorFor(`http://${UPSTREAM_NAME}:${secured.port}`, { name: 'secure', credentials: USER, params: { allowedRealmHosts: '127.0.0.1' } });
    const cached = await startProxy([secure], { cache });
    stops.push(() => cached.stop());
    // Layers dockerd has never seen, so both pulls fetch them.
    const fresh = makeImage('amd64', [120_000, 7_000]);
    const layout = writeLayout([fresh], 'v1');
    dirs.push(layout.dir);
    const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://${cached.host}/team/cached:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const ref = `${cached.host}/team/cached:v1`; // 127.0.0.1: insecure to dockerd by itself
    const ids: string[] = [];
    for (const round of ['cold', 'warm']) {
      const pull = await dockerd.docker(['pull', ref]);
      expect([round, pull.code, pull.stderr]).toEqual([round, 0, pull.stderr]);
      ids.push((await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim());
      expect((await dockerd.docker(['rmi', ref])).code).toBe(0);
    }
    expect(ids[0]).toBe(ids[1]);
    const blobs = cached.logs
      .map((l) => JSON.parse(l) as { msg: string; endpoint?: string; method?: string; cache?: string })
      .filter((l) => l.msg === 'request' && l.endpoint === 'blob' && l.method === 'GET');
    expect(blobs.map((b) => b.cache)).toEqual(['miss', 'miss', 'miss', 'hit', 'hit', 'hit']);
  });

  it('pulls a Docker Hub image through the proxy as its registry-mirror (mirror-daemon.json, mirror-config.json under --access static)', async () => {
    const before = proxy.logs.length;
    const pull = await dockerd.docker(['pull', 'hubimg:v1'], { config: clientConfig });
    expect(pull.code, pull.stderr).toBe(0);
    expect(blobGets(before)).toBe(hubImage.layers.length + 1);
    // without the token the mirror refuses, and Docker Hub itself is out of reach: the pull fails
    const empty = tempDir('ocp-docker-noauth-');
    expect((await dockerd.docker(['rmi', 'hubimg:v1'])).code).toBe(0);
    expect((await dockerd.docker(['pull', 'hubimg:v1'], { config: empty, timeoutMs: 60_000 })).code).not.toBe(0);
  });
});
