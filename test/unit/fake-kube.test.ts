/**
 * The fake Kubernetes API server (test/helpers/fake-kube.ts) driven by @kubernetes/client-node
 * itself: an informer (list + watch, re-list after 410), typed REST calls, merge-patching status,
 * selectors, reviews and injected failures. The call shapes here are the ones production code uses.
 */
import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeKube, isRecord, type KubeObject, mergePatch, startFakeKube } from '../helpers/fake-kube.ts';

const GROUP = 'connectors.alauda.io';
const VERSION = 'v1alpha1';
const PLURAL = 'connectors';
const API = `${GROUP}/${VERSION}`;
const PATH = `/apis/${GROUP}/${VERSION}/${PLURAL}`;
const WAIT = { timeout: 5_000, interval: 10 };

function connector(namespace: string, name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: API,
    kind: 'Connector',
    metadata: { namespace, name, ...(labels ? { labels } : {}) },
    spec: { connectorClassName: 'oci', address: 'https://registry.example', ...spec },
  };
}

/** The informer's list function: listClusterCustomObject answers `any`; this is the typed boundary. */
function listConnectors(custom: CustomObjectsApi): () => Promise<KubernetesListObject<KubernetesObject>> {
  return async () => (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as KubernetesListObject<KubernetesObject>;
}

/** An ApiException's status code and parsed Status body. */
async function failure(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> | undefined }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const text: unknown = err.body;
    const parsed: unknown = typeof text === 'string' && text !== '' ? JSON.parse(text) : undefined;
    return { code: err.code, body: isRecord(parsed) ? parsed : undefined };
  }
  throw new Error('expected the call to fail');
}

const nameOf = (o: unknown): string => {
  const md = isRecord(o) ? o['metadata'] : undefined;
  return isRecord(md) ? `${String(md['namespace'] ?? '')}/${String(md['name'])}` : '?';
};
const fieldOf = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, k) => (isRecord(cur) ? cur[k] : undefined), o);

let fake: FakeKube;
let kc: KubeConfig;

beforeEach(async () => {
  fake = await startFakeKube();
  kc = new KubeConfig();
  kc.loadFromFile(fake.kubeconfigPath);
});

afterEach(async () => {
  await fake.stop();
});

describe('informer (makeInformer + listClusterCustomObject)', { timeout: 15_000 }, () => {
  async function started(): Promise<{ informer: ReturnType<typeof makeInformer<KubernetesObject>>; seen: string[]; errors: unknown[] }> {
    const informer = makeInformer<KubernetesObject>(kc, PATH, listConnectors(kc.makeApiClient(CustomObjectsApi)));
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => seen.push(`add ${nameOf(o)}`));
    informer.on('update', (o) => seen.push(`update ${nameOf(o)} ${JSON.stringify(fieldOf(o, 'spec', 'address'))}`));
    informer.on('delete', (o) => seen.push(`delete ${nameOf(o)}`));
    informer.on('error', (err) => errors.push(err));
    await informer.start();
    return { informer, seen, errors };
  }
  const lists = (): number => fake.requests.filter((r) => r.method === 'GET' && r.path === PATH && r.query['watch'] === undefined).length;
  const watches = () => fake.requests.filter((r) => r.method === 'GET' && r.path === PATH && r.query['watch'] === 'true');

  it('lists, watches from the list resourceVersion, and turns ADDED/MODIFIED/DELETED into add/update/delete', async () => {
    fake.put(connector('a', 'one'));
    const { informer, seen, errors } = await started();
    try {
      expect(seen).toEqual(['add a/one']);
      expect(fake.watchCount()).toBe(1);
      expect(watches()[0]!.query['resourceVersion']).toBe(fake.resourceVersion());
      expect(watches()[0]!.headers.authorization).toBe(`Bearer ${fake.token}`);

      fake.put(connector('b', 'two'));
      fake.put(connector('a', 'one', { address: 'https://changed.example' }));
      fake.remove(API, 'Connector', 'b', 'two');
      await vi.waitFor(() => expect(seen).toEqual(['add a/one', 'add b/two', 'update a/one "https://changed.example"', 'delete b/two']), WAIT);
      expect(informer.list().map(nameOf)).toEqual(['a/one']);
      expect(informer.get('one', 'a')?.metadata?.resourceVersion).toBe(fake.get(API, 'Connector', 'a', 'one')?.metadata.resourceVersion);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
    await vi.waitFor(() => expect(fake.watchCount()).toBe(0), WAIT);
  });

  it('re-lists after expireWatches() (ERROR 410 event) and still delivers later changes', async () => {
    fake.put(connector('a', 'one'));
    fake.put(connector('a', 'gone'));
    const { informer, seen, errors } = await started();
    try {
      const before = fake.resourceVersion();
      fake.expireWatches();
      fake.remove(API, 'Connector', 'a', 'gone'); // after the watch ended: only the re-list can tell
      await vi.waitFor(() => {
        expect(lists()).toBe(2);
        expect(fake.watchCount()).toBe(1);
      }, WAIT);
      fake.put(connector('a', 'later'));
      await vi.waitFor(() => expect(seen).toContain('add a/later'), WAIT);
      expect(seen).toContain('delete a/gone');
      expect(Number(watches().at(-1)!.query['resourceVersion'])).toBeGreaterThan(Number(before));
      expect(errors).toEqual([]);

      // A watch from before the compaction point (the resourceVersion at expireWatches()) is answered 410 Gone as an HTTP status.
      const res = await fetch(`${fake.url}${PATH}?watch=true&resourceVersion=${Number(before) - 1}`);
      expect(res.status).toBe(410);
      expect(await res.json()).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    } finally {
      await informer.stop();
    }
  });

  it('after closeWatches() resumes from its last resourceVersion without a re-list; changes made meanwhile are replayed', async () => {
    const { informer, seen } = await started();
    try {
      const last = fake.resourceVersion();
      fake.closeWatches();
      fake.put(connector('a', 'meanwhile')); // before the informer reconnects
      await vi.waitFor(() => expect(seen).toEqual(['add a/meanwhile']), WAIT);
      expect(lists()).toBe(1);
      expect(watches().map((w) => w.query['resourceVersion'])).toEqual([last, last]);
    } finally {
      await informer.stop();
    }
  });

  it('re-lists when a watch is answered HTTP 410', async () => {
    fake.put(connector('a', 'one'));
    const { informer, seen, errors } = await started();
    try {
      fake.failNext('WATCH', PATH, 410);
      fake.closeWatches();
      await vi.waitFor(() => expect(lists()).toBe(2), WAIT);
      // client-node waits its 1 s reconnect back-off before watching again.
      await vi.waitFor(() => expect(fake.watchCount()).toBe(1), WAIT);
      fake.put(connector('a', 'two'));
      await vi.waitFor(() => expect(seen).toEqual(['add a/one', 'add a/two']), WAIT);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});

describe('watch streams (client-node Watch)', { timeout: 10_000 }, () => {
  async function watch(path: string, query: Record<string, string>): Promise<{ events: string[]; ctl: AbortController }> {
    const events: string[] = [];
    const ctl = await new Watch(kc).watch(
      path,
      query,
      (type: string, obj: unknown) => events.push(`${type} ${nameOf(obj)}`),
      () => undefined,
    );
    return { events, ctl };
  }

  it('namespaced with a label selector: replays the log after resourceVersion, then live; selector transitions become ADDED/DELETED', async () => {
    const from = fake.resourceVersion();
    fake.put(connector('a', 'early', {}, { team: 'x' }));
    fake.put(connector('a', 'other', {}, { team: 'y' }));
    const { events, ctl } = await watch(`/apis/${GROUP}/${VERSION}/namespaces/a/${PLURAL}`, { resourceVersion: from, labelSelector: 'team=x' });
    try {
      fake.put(connector('b', 'elsewhere', {}, { team: 'x' }));
      fake.put(connector('a', 'other', {}, { team: 'x' }));
      fake.put(connector('a', 'early', { address: 'https://two.example' }, { team: 'x' }));
      fake.put(connector('a', 'early', {}, { team: 'y' }));
      fake.remove(API, 'Connector', 'a', 'other');
      await vi.waitFor(() => expect(events).toEqual(['ADDED a/early', 'ADDED a/other', 'MODIFIED a/early', 'DELETED a/early', 'DELETED a/other']), WAIT);
    } finally {
      ctl.abort();
    }
    await vi.waitFor(() => expect(fake.watchCount()).toBe(0), WAIT);
  });

  it('without a resourceVersion starts with ADDED for what exists; fieldSelector metadata.name narrows it', async () => {
    fake.put(connector('a', 'one'));
    fake.put(connector('b', 'two'));
    const all = await watch(PATH, {});
    const one = await watch(PATH, { fieldSelector: 'metadata.name=two' });
    try {
      fake.put(connector('b', 'two', { address: 'https://x.example' }));
      await vi.waitFor(() => {
        expect(all.events).toEqual(['ADDED a/one', 'ADDED b/two', 'MODIFIED b/two']);
        expect(one.events).toEqual(['ADDED b/two', 'MODIFIED b/two']);
      }, WAIT);
      expect(fake.watchCount()).toBe(2);
    } finally {
      all.ctl.abort();
      one.ctl.abort();
    }
  });

  it('expireWatches() sends an ERROR event with a 410 Status, then ends the stream', async () => {
    let ended = false;
    const events: unknown[] = [];
    await new Watch(kc).watch(
      PATH,
      { resourceVersion: fake.resourceVersion() },
      (type: string, obj: unknown) => events.push({ type, obj }),
      () => (ended = true),
    );
    fake.expireWatches();
    await vi.waitFor(() => expect(ended).toBe(true), WAIT);
    expect(events).toEqual([{ type: 'ERROR', obj: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
    expect(fake.watchCount()).toBe(0);
  });
});

describe('REST', { timeout: 10_000 }, () => {
  it('services: create, read, replace; 409 on a stale resourceVersion or an existing name; 404 Status when absent', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const body: V1Service = { metadata: { name: 'proxy', namespace: 'a', labels: { app: 'p' } }, spec: { ports: [{ port: 80, targetPort: 8080 }] } };
    const created = await core.createNamespacedService({ namespace: 'a', body });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.resourceVersion).toBe(fake.resourceVersion());
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/api/v1/namespaces/a/services', body: { metadata: { name: 'proxy' } } });

    const read = await core.readNamespacedService({ namespace: 'a', name: 'proxy' });
    expect(read.spec?.ports?.[0]?.port).toBe(80);
    const replaced = await core.replaceNamespacedService({
      namespace: 'a',
      name: 'proxy',
      body: { ...read, spec: { ports: [{ port: 81, targetPort: 8080 }] } },
    });
    expect(replaced.spec?.ports?.[0]?.port).toBe(81);
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);

    const stale = await failure(core.replaceNamespacedService({ namespace: 'a', name: 'proxy', body: read }));
    expect(stale).toMatchObject({ code: 409, body: { kind: 'Status', reason: 'Conflict', code: 409 } });
    expect(await failure(core.createNamespacedService({ namespace: 'a', body }))).toMatchObject({ code: 409, body: { reason: 'AlreadyExists' } });
    expect(await failure(core.readNamespacedService({ namespace: 'a', name: 'nope' }))).toEqual({
      code: 404,
      body: expect.objectContaining({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'services "nope" not found' }),
    });

    const patched = await core.patchNamespacedService(
      { namespace: 'a', name: 'proxy', body: { metadata: { labels: { extra: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({ app: 'p', extra: 'y' });

    await core.deleteNamespacedService({ namespace: 'a', name: 'proxy' });
    expect(fake.get('v1', 'Service', 'a', 'proxy')).toBeUndefined();
    expect((await failure(core.deleteNamespacedService({ namespace: 'a', name: 'proxy' }))).code).toBe(404);
  });

  it('connector status: merge patch via setHeaderOptions changes only status; the default JSON-patch content type is refused', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const stored = fake.put({ ...connector('a', 'one'), status: { conditions: [{ type: 'Old', status: 'True' }], observedGeneration: 1 } });
    const target = { group: GROUP, version: VERSION, namespace: 'a', plural: PLURAL, name: 'one' };
    const conditions = [{ type: 'Ready', status: 'True', reason: 'Reachable' }];

    const out: unknown = await custom.patchNamespacedCustomObjectStatus(
      { ...target, body: { status: { conditions }, spec: { address: 'ignored on /status' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      path: `/apis/${GROUP}/${VERSION}/namespaces/a/${PLURAL}/one/status`,
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    const now = fake.get(API, 'Connector', 'a', 'one')!;
    expect(now.status).toEqual({ conditions, observedGeneration: 1 });
    expect(now.spec).toEqual(stored.spec);
    expect(now.metadata.generation).toBe(1);
    expect(Number(now.metadata.resourceVersion)).toBeGreaterThan(Number(stored.metadata.resourceVersion));
    expect(fieldOf(out, 'status', 'conditions')).toEqual(conditions);

    // The same patch again changes nothing: no new resourceVersion.
    await custom.patchNamespacedCustomObjectStatus({ ...target, body: { status: { conditions } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(fake.get(API, 'Connector', 'a', 'one')!.metadata.resourceVersion).toBe(now.metadata.resourceVersion);

    const plain = await failure(custom.patchNamespacedCustomObjectStatus({ ...target, body: { status: {} } }));
    expect(plain.code).toBe(415);
    expect(fake.requests.at(-1)!.headers['content-type']).toBe('application/json-patch+json');

    const stale = await failure(
      custom.patchNamespacedCustomObjectStatus(
        { ...target, body: { metadata: { resourceVersion: stored.metadata.resourceVersion }, status: {} } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(stale.code).toBe(409);
    const absent = await failure(
      custom.patchNamespacedCustomObjectStatus({ ...target, name: 'nope', body: { status: {} } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
    expect(absent).toMatchObject({ code: 404, body: { message: 'connectors.connectors.alauda.io "nope" not found' } });
  });

  it('connector replace: spec change bumps generation and keeps status; /status replace changes only status; no resourceVersion is 422', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const target = { group: GROUP, version: VERSION, namespace: 'a', plural: PLURAL, name: 'one' };
    const created: unknown = await custom.createNamespacedCustomObject({ ...target, body: { ...connector('a', 'one'), status: { dropped: true } } });
    expect(fieldOf(created, 'status')).toBeUndefined();
    fake.put({ ...fake.get(API, 'Connector', 'a', 'one')!, status: { phase: 'Ready' } });
    const current = fake.get(API, 'Connector', 'a', 'one')!;

    const replaced: unknown = await custom.replaceNamespacedCustomObject({
      ...target,
      body: { ...current, spec: { ...current.spec, address: 'https://new.example' }, status: { phase: 'Ignored' } },
    });
    expect(fieldOf(replaced, 'metadata', 'generation')).toBe(2);
    expect(fieldOf(replaced, 'status')).toEqual({ phase: 'Ready' });

    const latest = fake.get(API, 'Connector', 'a', 'one')!;
    await custom.replaceNamespacedCustomObjectStatus({ ...target, body: { ...latest, spec: { address: 'ignored' }, status: { phase: 'Degraded' } } });
    expect(fake.get(API, 'Connector', 'a', 'one')).toMatchObject({ spec: { address: 'https://new.example' }, status: { phase: 'Degraded' }, metadata: { generation: 2 } });

    const { resourceVersion: _rv, ...noVersion } = latest.metadata;
    expect((await failure(custom.replaceNamespacedCustomObject({ ...target, body: { ...latest, metadata: noVersion } }))).code).toBe(422);
  });

  it('leases: create, replace, 409 on a stale resourceVersion (a built-in kind: no resourceVersion is an unconditional update)', async () => {
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const lease: V1Lease = { metadata: { name: 'leader', namespace: 'a' }, spec: { holderIdentity: 'pod-1', leaseDurationSeconds: 15 } };
    const created = await coordination.createNamespacedLease({ namespace: 'a', body: lease });
    const renewed = await coordination.replaceNamespacedLease({ namespace: 'a', name: 'leader', body: { ...created, spec: { ...created.spec, holderIdentity: 'pod-2' } } });
    expect(renewed.spec?.holderIdentity).toBe('pod-2');
    expect(await failure(coordination.replaceNamespacedLease({ namespace: 'a', name: 'leader', body: created }))).toMatchObject({ code: 409, body: { reason: 'Conflict' } });
    const forced = await coordination.replaceNamespacedLease({ namespace: 'a', name: 'leader', body: lease });
    expect(forced.spec?.holderIdentity).toBe('pod-1');
  });

  it('secrets: list with labelSelector and fieldSelector type=; items of a built-in list carry no kind', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const secret = (ns: string, name: string, type: string, labels: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace: ns, name, labels },
      type,
      data: {},
    });
    fake.put(secret('a', 's1', 'cpaas.io/token', { app: 'p' }));
    fake.put(secret('a', 's2', 'Opaque', { app: 'p' }));
    fake.put(secret('b', 's3', 'cpaas.io/token', { app: 'p', tier: 'x' }));
    fake.put(secret('b', 's4', 'cpaas.io/token', { app: 'q' }));

    const inA = await core.listNamespacedSecret({ namespace: 'a', fieldSelector: 'type=cpaas.io/token' });
    expect(inA.items.map(nameOf)).toEqual(['a/s1']);
    expect(inA.items[0]!.kind).toBeUndefined();
    expect(inA.metadata?.resourceVersion).toBe(fake.resourceVersion());
    const all = await core.listSecretForAllNamespaces({ labelSelector: 'app=p', fieldSelector: 'type==cpaas.io/token' });
    expect(all.items.map(nameOf)).toEqual(['a/s1', 'b/s3']);
    const labelled = await core.listSecretForAllNamespaces({ labelSelector: 'app=p,tier!=x,!gone' });
    expect(labelled.items.map(nameOf)).toEqual(['a/s1', 'a/s2']);
    const byName = await core.listSecretForAllNamespaces({ fieldSelector: 'metadata.namespace=b,metadata.name=s4' });
    expect(byName.items.map(nameOf)).toEqual(['b/s4']);
    expect((await failure(core.listSecretForAllNamespaces({ fieldSelector: 'spec.x=y' }))).code).toBe(400);
  });

  it('token and subject access reviews: respond() handlers, fall-through, and the deny-by-default answers', async () => {
    const authn = kc.makeApiClient(AuthenticationV1Api);
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const tokenReview = (token: string) => authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
    expect((await tokenReview('t0')).status?.authenticated).toBe(false);

    fake.respond('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (body) => {
      if (fieldOf(body, 'spec', 'token') !== 'good') return undefined;
      return {
        status: 201,
        body: { ...(isRecord(body) ? body : {}), status: { authenticated: true, user: { username: 'system:serviceaccount:a:puller', groups: ['system:serviceaccounts'] } } },
      };
    });
    const good = await tokenReview('good');
    expect(good.status).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:a:puller' } });
    expect((await tokenReview('bad')).status?.authenticated).toBe(false);

    fake.respond('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', (body) => ({
      status: 201,
      body: { ...(isRecord(body) ? body : {}), status: { allowed: fieldOf(body, 'spec', 'resourceAttributes', 'name') === 'one' } },
    }));
    const sar = (name: string) =>
      authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'system:serviceaccount:a:puller',
            groups: ['system:serviceaccounts'],
            resourceAttributes: { group: GROUP, resource: PLURAL, verb: 'get', namespace: 'a', name },
          },
        },
      });
    expect((await sar('one')).status?.allowed).toBe(true);
    expect((await sar('two')).status?.allowed).toBe(false);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/apis/authorization.k8s.io/v1/subjectaccessreviews', headers: { authorization: `Bearer ${fake.token}` } });
  });

  it('failNext answers the next matching requests with a Status, then lets them through', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    fake.failNext('GET', '/api/v1/namespaces/a/secrets', 503, 2);
    expect(await failure(core.listNamespacedSecret({ namespace: 'a' }))).toMatchObject({ code: 503, body: { kind: 'Status', reason: 'ServiceUnavailable', code: 503 } });
    expect((await failure(core.listNamespacedSecret({ namespace: 'a' }))).code).toBe(503);
    expect((await core.listNamespacedSecret({ namespace: 'a' })).items).toEqual([]);
    fake.failNext('*', '/api/v1', 401);
    expect(await failure(core.listNamespacedSecret({ namespace: 'a' }))).toEqual({ code: 401, body: undefined }); // client-node drops 401 bodies
  });
});

describe('test-side store', () => {
  it('put keeps uid and creationTimestamp, bumps generation only on spec change; a re-created object gets a new uid', async () => {
    const first = fake.put(connector('a', 'one'));
    expect(first.metadata).toMatchObject({ generation: 1, resourceVersion: fake.resourceVersion() });
    const labelled = fake.put({ ...connector('a', 'one'), metadata: { namespace: 'a', name: 'one', labels: { x: 'y' } } });
    expect(labelled.metadata).toMatchObject({ uid: first.metadata.uid, creationTimestamp: first.metadata.creationTimestamp, generation: 1 });
    const respec = fake.put(connector('a', 'one', { address: 'https://b.example' }));
    expect(respec.metadata.generation).toBe(2);
    expect(Number(respec.metadata.resourceVersion)).toBeGreaterThan(Number(labelled.metadata.resourceVersion));
    expect(fake.list(API, 'Connector')).toHaveLength(1);
    fake.remove(API, 'Connector', 'a', 'one');
    expect(fake.get(API, 'Connector', 'a', 'one')).toBeUndefined();
    expect(fake.put(connector('a', 'one')).metadata.uid).not.toBe(first.metadata.uid);
    expect(() => fake.put({ ...connector('a', 'x'), metadata: { name: 'x' } })).toThrow(/namespace/);
  });

  it('mergePatch follows RFC 7386', () => {
    const cases: [target: unknown, patch: unknown, result: unknown][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'b' }, ['c'], ['c']],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, result] of cases) expect(mergePatch(target, patch)).toEqual(result);
  });
});
