/**
 * The Kubernetes adapter against a fake API server speaking list/watch (test/helpers/fake-kube.ts)
 * and real registries: Connectors and Secrets from the cluster become the proxy's connector set
 * (served through the proxy, end to end), status goes back through the status subresource
 * only when it changed, each Connector gets its owned proxy Service, a missing Secret means not
 * served, a 410 Gone re-lists, kubernetes access control asks TokenReview/SubjectAccessReview,
 * and leader election hands over.
 */
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, KUBERNETES_CACHE_TTL_MS } from '../../src/access/control.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { KubernetesController } from '../../src/sources/kubernetes/controller.ts';
import { LeaderElector } from '../../src/sources/kubernetes/lease.ts';
import { KubernetesReviewer } from '../../src/sources/kubernetes/reviewer.ts';
import { type FakeKube, type KubeObject, startFakeKube } from '../helpers/fake-kube.ts';
import { basic, http, ociCode } from '../helpers/http.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { spawnProxy, startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { waitFor } from '../helpers/ports.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const API = 'connectors.alauda.io/v1alpha1';
const USER = { username: 'kube-puller', password: 'kube-Pa55word-1' };
const MT = 'application/vnd.oci.image.manifest.v1+json';
const PROXY_SERVICE = 'oci-connector-proxy.infra.svc.cluster.local';
const SA_TOKEN = 'sa-token-builder-0123456789';
const OTHER_TOKEN = 'sa-token-stranger-0123456789';
/** How long a settled controller is watched for a status or Service write it should not make. */
const QUIET_MS = 500;
/** How long a controller that does not lead is watched for a write it should not make. */
const FOLLOWER_QUIET_MS = 300;

let fake: FakeKube;
let kc: KubeConfig;
let ts: TokenServer;
let open: Registry;
let secure: Registry;
let proxy: RunningProxy;
let controller: KubernetesController;
let image: ReturnType<typeof makeImage>;
const logs: string[] = [];

const connector = (ns: string, name: string, address: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: API,
  kind: 'Connector',
  metadata: { namespace: ns, name },
  spec: { connectorClassName: 'oci', address, ...extra },
});
const secret = (ns: string, name: string, password: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { namespace: ns, name },
  type: 'cpaas.io/distribution-registry-token',
  data: { username: Buffer.from(USER.username).toString('base64'), password: Buffer.from(password).toString('base64') },
});
const secureConnector = (): KubeObject =>
  connector('team-a', 'secure', secure.url, { auth: { name: 'tokenAuth', secretRef: { name: 'creds' }, params: [{ name: 'repository', value: 'team/app' }] } });

interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime: string;
}
const statusOf = (ns: string, name: string) =>
  fake.get(API, 'Connector', ns, name)?.status as { conditions?: Cond[]; observedGeneration?: number; proxy?: { httpAddress: { url: string } } } | undefined;
const cond = (ns: string, name: string, type: string): Cond | undefined => statusOf(ns, name)?.conditions?.find((c) => c.type === type);
const statusWrites = (ns?: string, name?: string) =>
  fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status') && (!ns || r.path === `/apis/${API}/namespaces/${ns}/connectors/${name}/status`)).length;
const manifestVia = (ns: string, name: string, headers: Record<string, string> = {}) =>
  http(`${proxy.url}/v2/namespaces/${ns}/connectors/${name}/team/app/manifests/v1`, { headers: { accept: MT, ...headers } });

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  [open, secure, fake] = await Promise.all([startRegistry(), startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 }), startFakeKube()]);
  image = makeImage('amd64', [5_000]);
  const layout = writeLayout([image], 'v1');
  for (const [reg, creds] of [
    [open, []],
    [secure, ['--dest-creds', `${USER.username}:${USER.password}`]],
  ] as const) {
    const push = await skopeo(['copy', '--dest-tls-verify=false', ...creds, layout.ref, `docker://${new URL(reg.url).host}/team/app:v1`]);
    expect(push.code, push.stderr).toBe(0);
  }
  kc = new KubeConfig();
  kc.loadFromFile(fake.kubeconfigPath);
  // The cluster answers reviews: SA_TOKEN is team-a's builder, allowed on team-a/secure only.
  fake.respond('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (body) => {
    const token = (body as { spec: { token: string } }).spec.token;
    const user = token === SA_TOKEN ? 'system:serviceaccount:team-a:builder' : token === OTHER_TOKEN ? 'system:serviceaccount:team-b:stranger' : undefined;
    return {
      status: 201,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        status: user ? { authenticated: true, user: { username: user, groups: ['system:serviceaccounts'] } } : { authenticated: false },
      },
    };
  });
  fake.respond('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', (body) => {
    const spec = (body as { spec: { user: string; resourceAttributes: { namespace: string; name: string; verb: string; group: string; resource: string } } }).spec;
    const a = spec.resourceAttributes;
    const allowed =
      spec.user === 'system:serviceaccount:team-a:builder' &&
      a.group === 'connectors.alauda.io' &&
      a.resource === 'connectors' &&
      a.verb === 'get' &&
      a.namespace === 'team-a' &&
      a.name === 'secure';
    return { status: 201, body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', status: { allowed } } };
  });

  const access = new AccessControl({ mode: 'none', reviewer: new KubernetesReviewer({ kubeConfig: kc, checkProxySubresource: false }) });
  proxy = await startProxy([], { access, health: { intervalMs: 0, timeoutMs: 5_000 }, addressMode: 'host' });
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  controller = new KubernetesController({
    kubeConfig: kc,
    namespaces: [],
    log: createLogger('debug', sink),
    server: proxy.server,
    addressMode: 'host',
    proxyServiceHost: PROXY_SERVICE,
    servicePort: 80,
    proxyHost: proxy.host,
    leader: undefined,
    debounceMs: 20,
  });
  fake.put(secret('team-a', 'creds', USER.password));
  fake.put(secureConnector());
  fake.put(connector('default', 'open', open.url));
  fake.put(connector('default', 'git-repo', 'https://git.example.com', { connectorClassName: 'git' }));
  await controller.start();
}, 60_000);

afterAll(async () => {
  await controller?.stop();
  await proxy?.stop();
  await fake?.stop();
  await Promise.all([open?.stop(), secure?.stop()]);
  await ts?.stop();
});

describe('connectors from the cluster', () => {
  it('serves each oci Connector (with its Secret) through the proxy, end to end', async () => {
    await waitFor('both connectors served', async () => proxy.server.connectors().clients.size === 2);
    expect([...proxy.server.connectors().clients.keys()].sort()).toEqual(['default/open', 'team-a/secure']);
    for (const [ns, name] of [
      ['team-a', 'secure'],
      ['default', 'open'],
    ]) {
      const res = await manifestVia(ns!, name!);
      expect(res.status, `${ns}/${name}`).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(image.manifestDigest);
    }
  });

  it('writes the status through the status subresource: conditions, observedGeneration, proxy address', async () => {
    await waitFor('secure Ready', async () => cond('team-a', 'secure', 'Ready')?.status === 'True', 20_000);
    const s = statusOf('team-a', 'secure')!;
    const byType = Object.fromEntries(s.conditions!.map((c) => [c.type, c]));
    expect(Object.keys(byType).sort()).toEqual(['AuthReady', 'LivenessReady', 'ProxyServiceReady', 'Ready', 'SecretReady']);
    for (const c of Object.values(byType)) expect(c.status).toBe('True');
    expect(s.observedGeneration).toBe(fake.get(API, 'Connector', 'team-a', 'secure')!.metadata.generation);
    expect(s.proxy).toEqual({ httpAddress: { url: 'http://c-secure.team-a.svc.cluster.local' } });
    await waitFor('open Ready', async () => cond('default', 'open', 'Ready')?.status === 'True', 20_000);
    expect(cond('default', 'open', 'AuthReady')).toMatchObject({ status: 'True', reason: 'NonAuthProbe' });
    expect(cond('default', 'open', 'SecretReady')).toMatchObject({ status: 'True', reason: 'SecretOptional' });
    // Connectors of other classes are not ours: no status, no Service.
    expect(fake.get(API, 'Connector', 'default', 'git-repo')!.status).toBeUndefined();
    expect(fake.get('v1', 'Service', 'default', 'c-git-repo')).toBeUndefined();
  });

  it('creates the proxy Service c-<name>, owned by the Connector, pointing at the proxy', async () => {
    const svc = fake.get('v1', 'Service', 'team-a', 'c-secure')!;
    const owner = fake.get(API, 'Connector', 'team-a', 'secure')!;
    expect(svc.spec).toMatchObject({ type: 'ExternalName', externalName: PROXY_SERVICE, ports: [{ name: 'http', port: 80 }] });
    expect(svc.metadata.ownerReferences).toEqual([{ apiVersion: API, kind: 'Connector', name: 'secure', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    // Host routing picks the connector by that Service's name.
    const res = await http(`${proxy.url}/v2/team/app/manifests/v1`, { headers: { accept: MT, host: 'c-secure.team-a.svc.cluster.local' } });
    expect(res.status).toBe(200);
  });

  it('no write storm: once settled, nothing is written again without a change', async () => {
    await waitFor('settled', async () => cond('default', 'open', 'Ready')?.status === 'True' && cond('team-a', 'secure', 'Ready')?.status === 'True');
    const before = { writes: statusWrites(), services: fake.requests.filter((r) => r.path.includes('/services')).length };
    // Both syncs are done (requestSync resolves once what it asked for is written); then nothing
    // more may be written for QUIET_MS.
    await controller.requestSync();
    await controller.requestSync();
    await new Promise((r) => setTimeout(r, QUIET_MS));
    expect(statusWrites()).toBe(before.writes);
    expect(fake.requests.filter((r) => r.path.includes('/services')).length).toBe(before.services);
  });

  it('a changed Secret drops the old credentials: AuthReady False with AuthenticationFailed, then True again; transition times move only on a change', async () => {
    await waitFor('secure Ready', async () => cond('team-a', 'secure', 'AuthReady')?.status === 'True');
    const liveBefore = cond('team-a', 'secure', 'LivenessReady')!.lastTransitionTime;
    const authBefore = cond('team-a', 'secure', 'AuthReady')!.lastTransitionTime;
    // Transition times have ms resolution: let the clock move past the one they were read at.
    const readAt = Date.now();
    await waitFor('the clock to move on', async () => Date.now() > readAt, 1_000);
    fake.put(secret('team-a', 'creds', 'wrong-password'));
    await waitFor('AuthReady False', async () => cond('team-a', 'secure', 'AuthReady')?.status === 'False', 20_000);
    expect(cond('team-a', 'secure', 'AuthReady')).toMatchObject({ reason: 'AuthenticationFailed' });
    expect(cond('team-a', 'secure', 'AuthReady')!.message).toMatch(/^Authentication failed: status code 401/);
    expect(cond('team-a', 'secure', 'Ready')).toMatchObject({ status: 'False', reason: 'AuthenticationFailed' });
    expect(cond('team-a', 'secure', 'LivenessReady')!.lastTransitionTime).toBe(liveBefore);
    expect(cond('team-a', 'secure', 'AuthReady')!.lastTransitionTime).not.toBe(authBefore);
    expect((await manifestVia('team-a', 'secure')).status).toBe(401);
    fake.put(secret('team-a', 'creds', USER.password));
    await waitFor('AuthReady True', async () => cond('team-a', 'secure', 'AuthReady')?.status === 'True', 20_000);
    expect((await manifestVia('team-a', 'secure')).status).toBe(200);
  });

  it('a missing Secret: SecretReady False (SecretNotFound), not served at all; served again once it exists', async () => {
    fake.remove('v1', 'Secret', 'team-a', 'creds');
    await waitFor('SecretNotFound', async () => cond('team-a', 'secure', 'SecretReady')?.status === 'False', 10_000);
    expect(cond('team-a', 'secure', 'SecretReady')).toMatchObject({ reason: 'SecretNotFound', message: 'secrets "creds" not found' });
    expect(cond('team-a', 'secure', 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    const res = await manifestVia('team-a', 'secure');
    expect(res.status).toBe(404);
    expect(ociCode(res)).toBe('NAME_UNKNOWN');
    fake.put(secret('team-a', 'creds', USER.password));
    await waitFor('served again', async () => (await manifestVia('team-a', 'secure')).status === 200, 10_000);
    await waitFor('Ready again', async () => cond('team-a', 'secure', 'Ready')?.status === 'True', 20_000);
  });

  it('a spec change bumps observedGeneration; a deleted Connector stops being served', async () => {
    fake.put(connector('default', 'open', open.url, { params: [{ name: 'redirects', value: 'pass' }] }));
    const generation = fake.get(API, 'Connector', 'default', 'open')!.metadata.generation;
    await waitFor('observedGeneration', async () => statusOf('default', 'open')?.observedGeneration === generation, 10_000);
    fake.remove(API, 'Connector', 'default', 'open');
    await waitFor('not served', async () => !proxy.server.connectors().clients.has('default/open'), 10_000);
    expect((await manifestVia('default', 'open')).status).toBe(404);
  });

  it('recovers from a 410 Gone (re-list) and from failing lists (back-off), and still sees later changes', async () => {
    const lists = () => fake.requests.filter((r) => r.method === 'GET' && r.path === `/apis/${API}/connectors` && r.query['watch'] === undefined).length;
    const before = lists();
    fake.failNext('LIST', `/apis/${API}/connectors`, 500, 1);
    fake.expireWatches();
    await waitFor('re-listed', async () => lists() >= before + 2, 15_000);
    fake.put(connector('default', 'open', open.url));
    await waitFor('served after re-list', async () => proxy.server.connectors().clients.has('default/open'), 15_000);
    expect(logs.some((l) => l.includes('kubernetes list/watch failed; retrying'))).toBe(true);
  }, 30_000);

  it('retries a status write that conflicts', async () => {
    const path = `/apis/${API}/namespaces/default/connectors/conflicted/status`;
    fake.failNext('PATCH', path, 409, 1);
    fake.put(connector('default', 'conflicted', open.url));
    await waitFor('written', async () => cond('default', 'conflicted', 'Ready')?.status === 'True', 20_000);
    expect(fake.requests.filter((r) => r.method === 'PATCH' && r.path === path).length).toBeGreaterThanOrEqual(2);
  });
});

describe('what a Connector author cannot do', () => {
  it('use a Secret of another namespace (SecretNotAllowed, not served)', async () => {
    fake.put(connector('team-b', 'borrower', secure.url, { auth: { name: 'tokenAuth', secretRef: { name: 'creds', namespace: 'team-a' } } }));
    await waitFor('SecretNotAllowed', async () => cond('team-b', 'borrower', 'SecretReady')?.reason === 'SecretNotAllowed', 10_000);
    expect(cond('team-b', 'borrower', 'SecretReady')).toMatchObject({ status: 'False', message: expect.stringContaining('team-a/creds is in another namespace') });
    expect(cond('team-b', 'borrower', 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotAllowed' });
    expect(proxy.server.connectors().clients.has('team-b/borrower')).toBe(false);
  });

  it('claim another host name with spec.params hosts (ignored in a cluster), or turn access control off', async () => {
    fake.put(
      connector('aaa', 'evil', open.url, {
        params: [
          { name: 'hosts', value: 'c-secure.team-a.svc.cluster.local,registry.example.com' },
          { name: 'access', value: 'none' },
        ],
      }),
    );
    await waitFor('served', async () => proxy.server.connectors().clients.has('aaa/evil'), 10_000);
    expect(proxy.server.connectors().clients.get('aaa/evil')!.connector.params['hosts']).toBeUndefined();
    const res = await http(`${proxy.url}/v2/team/app/manifests/v1`, { headers: { accept: MT, host: 'registry.example.com' } });
    expect(res.status).toBe(404); // the name picks nothing
    const strict = new AccessControl({ mode: 'kubernetes', reviewer: new KubernetesReviewer({ kubeConfig: kc, checkProxySubresource: false }) });
    expect(strict.modeFor(proxy.server.connectors().clients.get('aaa/evil')!.connector)).toBe('kubernetes');
    fake.remove(API, 'Connector', 'aaa', 'evil');
  });

  it('take over a Service of the same name that the proxy did not make', async () => {
    fake.put({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'team-c', name: 'c-api' }, spec: { type: 'ClusterIP', ports: [{ port: 443 }] } });
    fake.put(connector('team-c', 'api', open.url));
    await waitFor('ProxyServiceReady False', async () => cond('team-c', 'api', 'ProxyServiceReady')?.status === 'False', 10_000);
    expect(cond('team-c', 'api', 'ProxyServiceReady')).toMatchObject({
      reason: 'ProxyServiceNotFound',
      message: 'service team-c/c-api exists and is not managed by oci-connector-proxy',
    });
    expect(fake.get('v1', 'Service', 'team-c', 'c-api')!.spec).toMatchObject({ type: 'ClusterIP' });
  });
});

describe('access control: kubernetes', () => {
  it('a ServiceAccount token allowed to get the Connector passes; others are refused; positive answers are cached', async () => {
    const access = new AccessControl({ mode: 'kubernetes', reviewer: new KubernetesReviewer({ kubeConfig: kc, checkProxySubresource: false }) });
    const p = await startProxy(
      [...proxy.server.connectors().clients.values()].map((c) => c.connector),
      { access },
    );
    try {
      const reviews = () => fake.requests.filter((r) => r.path.endsWith('/tokenreviews')).length;
      const get = (ns: string, name: string, auth?: string) =>
        http(`${p.url}/v2/namespaces/${ns}/connectors/${name}/team/app/manifests/v1`, { headers: { accept: MT, ...(auth ? { authorization: auth } : {}) } });
      const before = reviews();
      expect((await get('team-a', 'secure', `Bearer ${SA_TOKEN}`)).status).toBe(200);
      expect((await get('team-a', 'secure', basic('x', SA_TOKEN))).status).toBe(200);
      expect(reviews()).toBe(before + 1); // the second one came from the cache
      const denied = await get('team-a', 'secure', `Bearer ${OTHER_TOKEN}`);
      expect(denied.status).toBe(403);
      expect(ociCode(denied)).toBe('DENIED');
      const wrongConnector = await get('default', 'open', `Bearer ${SA_TOKEN}`);
      expect(wrongConnector.status).toBe(403);
      const invalid = await get('team-a', 'secure', 'Bearer not-a-service-account-token');
      expect(invalid.status).toBe(401);
      expect(invalid.headers['www-authenticate']).toBe('Basic realm="oci-connector-proxy"');
      expect((await get('team-a', 'secure')).status).toBe(401);
      const sar = fake.requests.filter((r) => r.path.endsWith('/subjectaccessreviews')).at(-1)!.body as { spec: { resourceAttributes: Record<string, string> } };
      expect(sar.spec.resourceAttributes).toMatchObject({ group: 'connectors.alauda.io', resource: 'connectors', verb: 'get' });
      expect(KUBERNETES_CACHE_TTL_MS).toBe(10_000);
    } finally {
      await p.stop();
    }
  });
});

describe('leader election', () => {
  it('one replica leads; a released lease passes at once; an abandoned one after its duration; only the leader writes', async () => {
    let now = Date.now();
    const log = createLogger('silent');
    const mk = (identity: string) => new LeaderElector({ kubeConfig: kc, namespace: 'infra', name: 'test-lease', identity, leaseDurationSeconds: 2, log, now: () => now });
    const a = mk('replica-a');
    const b = mk('replica-b');
    await a.tryOnce();
    await b.tryOnce();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(fake.get('coordination.k8s.io/v1', 'Lease', 'infra', 'test-lease')!.spec).toMatchObject({ holderIdentity: 'replica-a', leaseDurationSeconds: 2 });
    // A replica whose clock runs a minute ahead does not take a fresh lease: expiry is measured
    // from when it saw the renewal, by its own clock.
    const skewed = new LeaderElector({ kubeConfig: kc, namespace: 'infra', name: 'test-lease', identity: 'replica-skewed', leaseDurationSeconds: 2, log, now: () => now + 60_000 });
    await skewed.tryOnce();
    expect(skewed.isLeader()).toBe(false);
    // a renews; b keeps waiting while the lease is fresh
    now += 1_000;
    await a.tryOnce();
    await b.tryOnce();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    // a stops renewing (crashed): after the lease duration b takes over
    now += 2_500;
    await b.tryOnce();
    expect(b.isLeader()).toBe(true);
    expect(fake.get('coordination.k8s.io/v1', 'Lease', 'infra', 'test-lease')!.spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
    // a comes back: it sees b's fresh lease and stops leading
    await a.tryOnce();
    expect(a.isLeader()).toBe(false);
    // b shuts down and releases: a takes over at once, without waiting for expiry
    await b.stop();
    await a.tryOnce();
    expect(a.isLeader()).toBe(true);
    await a.stop();
  });

  it('a controller that does not lead writes nothing', async () => {
    await controller.stop(); // the single-replica controller above would write for it
    const log = createLogger('silent');
    const holder = new LeaderElector({ kubeConfig: kc, namespace: 'infra', name: 'writer-lease', identity: 'other-replica', leaseDurationSeconds: 60, log });
    await holder.tryOnce();
    const follower = new LeaderElector({ kubeConfig: kc, namespace: 'infra', name: 'writer-lease', identity: 'me', leaseDurationSeconds: 60, log, renewMs: 60_000 });
    const p = await startProxy([], { health: { intervalMs: 0, timeoutMs: 5_000 } });
    const c = new KubernetesController({
      kubeConfig: kc,
      namespaces: ['team-b'],
      log,
      server: p.server,
      addressMode: 'host',
      proxyServiceHost: PROXY_SERVICE,
      servicePort: 80,
      proxyHost: p.host,
      leader: follower,
      debounceMs: 20,
    });
    try {
      fake.put(connector('team-b', 'followed', open.url));
      await c.start();
      await waitFor('served by the follower too', async () => p.server.connectors().clients.has('team-b/followed'));
      // A sync has run; then the follower may write nothing for FOLLOWER_QUIET_MS.
      await c.requestSync();
      await new Promise((r) => setTimeout(r, FOLLOWER_QUIET_MS));
      expect(follower.isLeader()).toBe(false);
      expect(statusOf('team-b', 'followed')).toBeUndefined();
      expect(fake.get('v1', 'Service', 'team-b', 'c-followed')).toBeUndefined();
    } finally {
      await c.stop();
      await p.stop();
    }
  });

  it('the CLI with --source kubernetes: serves, leads, writes status, and releases its Lease on SIGTERM', async () => {
    fake.put(connector('cli', 'cli-open', open.url));
    const p = await spawnProxy(
      [
        '--source',
        'kubernetes',
        '--kubeconfig',
        fake.kubeconfigPath,
        '--namespaces',
        'cli',
        '--health-interval',
        '0',
        '--lease-namespace',
        'infra',
        '--proxy-service',
        PROXY_SERVICE,
      ],
      { POD_NAME: 'proxy-0' },
    );
    try {
      await waitFor('ready', async () => (await http(`${p.url}/readyz`)).status === 200);
      await waitFor('status written', async () => cond('cli', 'cli-open', 'Ready')?.status === 'True', 20_000);
      expect(statusOf('cli', 'cli-open')!.proxy).toEqual({ httpAddress: { url: 'http://c-cli-open.cli.svc.cluster.local' } });
      expect(fake.get('coordination.k8s.io/v1', 'Lease', 'infra', 'oci-connector-proxy')!.spec).toMatchObject({ holderIdentity: 'proxy-0' });
      const res = await http(`${p.url}/v2/team/app/manifests/v1`, { headers: { accept: MT, host: 'c-cli-open.cli.svc.cluster.local' } });
      expect(res.status).toBe(200);
    } finally {
      expect(await p.stop()).toBe(0);
    }
    expect(fake.get('coordination.k8s.io/v1', 'Lease', 'infra', 'oci-connector-proxy')!.spec!['holderIdentity']).toBeUndefined();
  }, 40_000);

  it('no log line holds a password or a ServiceAccount token', () => {
    const all = [...logs, ...proxy.logs].join('\n');
    for (const s of [USER.password, SA_TOKEN, OTHER_TOKEN]) expect(all).not.toContain(s);
  });
});
