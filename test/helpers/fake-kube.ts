/**
 * A small Kubernetes API server for tests: node:http on 127.0.0.1, port 0, an in-memory object
 * store with a global resourceVersion, an event log, and newline-delimited JSON watch streams —
 * enough for @kubernetes/client-node v2 informers (list, then GET <collection>?watch=true&
 * resourceVersion=N; on 410 a re-list) and plain REST calls. Routes go by URL shape
 * (/api/v1/..., /apis/<group>/<version>/..., optional namespaces/<ns>/, <plural>[/<name>[/status]]),
 * so any kind works; RESOURCES maps plural ↔ kind and is easy to extend (or pass `resources`).
 *
 * Working @kubernetes/client-node 2.0.1 call shapes (exercised by test/unit/fake-kube.test.ts):
 *
 *   const kc = new KubeConfig(); kc.loadFromFile(fake.kubeconfigPath);
 *   // plain http needs `insecure-skip-tls-verify: true` on the cluster, else client-node throws
 *   // "HTTP protocol is not allowed when skipTLSVerify is not set or false" (the kubeconfig here sets it).
 *   const custom = kc.makeApiClient(CustomObjectsApi);
 *   const core = kc.makeApiClient(CoreV1Api);
 *   const coordination = kc.makeApiClient(CoordinationV1Api);
 *
 *   // list (the informer's list function; the result is `any`, so cast at this boundary):
 *   const list = async () => (await custom.listClusterCustomObject({ group, version, plural })) as KubernetesListObject<KubernetesObject>;
 *   const informer = makeInformer(kc, `/apis/${group}/${version}/${plural}`, list); // then .on('add'|'update'|'delete'|'error', cb); await informer.start()
 *   core.listNamespacedSecret({ namespace, labelSelector: 'a=b', fieldSelector: 'type=kubernetes.io/basic-auth' });
 *
 *   // patch status: the generated client picks Content-Type application/json-patch+json by default;
 *   // for a merge patch the header must be overridden per call with setHeaderOptions:
 *   await custom.patchNamespacedCustomObjectStatus(
 *     { group, version, namespace, plural, name, body: { status: { conditions } } },
 *     setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
 *   );
 *   // (same second argument for patchNamespacedCustomObject, core.patchNamespacedService, ...;
 *   //  PatchStrategy.StrategicMergePatch works here too and is treated as a merge patch)
 *
 *   await core.createNamespacedService({ namespace, body: service });               // V1Service
 *   await core.readNamespacedService({ namespace, name });
 *   await core.replaceNamespacedService({ namespace, name, body: serviceWithResourceVersion });
 *   await coordination.createNamespacedLease({ namespace, body: lease });            // V1Lease
 *   await coordination.replaceNamespacedLease({ namespace, name, body: leaseWithResourceVersion });
 *   await kc.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
 *   await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
 *     spec: { user, groups, resourceAttributes: { group, resource: 'connectors', verb: 'get', namespace, name } } } });
 *
 *   // Failures throw ApiException (exported by '@kubernetes/client-node'): `.code` is the HTTP
 *   // status; `.body` is the response text (a Status JSON string) — except for 401, where the
 *   // generated client drops the body (undefined).
 *
 * Deliberate fidelity (differs from a naive fake): list items of built-in kinds carry no
 * apiVersion/kind (as the real API server's typed lists; custom resources keep them); PUT without
 * metadata.resourceVersion is an unconditional update for built-in kinds and 422 for custom
 * resources; a no-op PUT/PATCH neither bumps resourceVersion nor emits an event; NotFound /
 * AlreadyExists / Conflict messages name the resource like the real server (`secrets "x" not
 * found`, `connectors.connectors.alauda.io "x" not found`). Not supported: JSON patch and apply
 * patch (415), set-based label selectors (400), limit/continue paging (everything in one page),
 * dryRun (ignored), deletecollection (405), watching a single object by URL.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeMetadata {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
}

/** One kind the server knows by name. Unknown plurals still work (kind guessed from the plural). */
export interface ResourceType {
  /** 'v1' for core, else '<group>/<version>'. */
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /**
   * Has a /status subresource: create drops status, writes to the main resource keep the stored
   * status, writes to /status change only status. Default: true for custom resources, false for built-ins.
   */
  statusSubresource?: boolean;
  /** fieldSelector keys accepted besides metadata.name and metadata.namespace (dotted paths to string fields). */
  fieldSelectors?: string[];
  /** A create-only review (TokenReview, SubjectAccessReview): POST answers the body with this status unless respond() handles it; nothing is stored. */
  review?: Record<string, unknown>;
}

export const RESOURCES: readonly ResourceType[] = [
  { apiVersion: 'connectors.alauda.io/v1alpha1', kind: 'Connector', plural: 'connectors', namespaced: true, statusSubresource: true },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelectors: ['type'] },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true, statusSubresource: true },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, statusSubresource: true },
  { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  { apiVersion: 'events.k8s.io/v1', kind: 'Event', plural: 'events', namespaced: true },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', plural: 'tokenreviews', namespaced: false, review: { authenticated: false } },
  { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false, review: { allowed: false } },
  { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, review: { allowed: false } },
  { apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview', plural: 'localsubjectaccessreviews', namespaced: true, review: { allowed: false } },
];

export interface RecordedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body, or undefined (no body, or not JSON). */
  body: unknown;
  rawBody: string;
  headers: { 'content-type'?: string; authorization?: string };
}

export interface HandlerResult {
  status: number;
  body: unknown;
}

export type Handler = (body: unknown, req: RecordedRequest) => HandlerResult | undefined | Promise<HandlerResult | undefined>;

export interface FakeKube {
  /** http://127.0.0.1:<port> */
  url: string;
  /** A kubeconfig (temporary file) for `url`: bearer-token user, current-context set, insecure-skip-tls-verify (plain http). */
  kubeconfigPath: string;
  /** The bearer token in the kubeconfig. */
  token: string;
  /** Every request, in arrival order (watches included). */
  requests: RecordedRequest[];
  /** Create or replace from the test side (status included, no resourceVersion check); always bumps resourceVersion; emits ADDED/MODIFIED. */
  put(obj: KubeObject): KubeObject;
  /** Deletes from the test side and emits DELETED; a no-op when absent. Cluster-scoped kinds: namespace ''. */
  remove(apiVersion: string, kind: string, namespace: string, name: string): void;
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  /** Every stored object of the kind, all namespaces, sorted by namespace/name. */
  list(apiVersion: string, kind: string): KubeObject[];
  /** The current global resourceVersion. */
  resourceVersion(): string;
  /**
   * Sends an ERROR event (Status 410 Expired) on every open watch and ends it; a later watch from
   * a resourceVersion older than now answers HTTP 410 Gone (the compaction point moves to now).
   */
  expireWatches(): void;
  /** Ends every open watch stream cleanly, as a server-side watch timeout does. */
  closeWatches(): void;
  /**
   * The next `times` (default 1) requests whose method matches and whose path starts with
   * `pathPrefix` get `status` with a Status body. `method`: an HTTP method (GET matches lists,
   * gets and watches), 'LIST' (GET without watch), 'WATCH' (GET ?watch=true), or '*'.
   */
  failNext(method: string, pathPrefix: string, status: number, times?: number): void;
  /** A custom answer for method + exact path (no query); return undefined to fall through. Newest handler first. */
  respond(method: string, path: string, handler: Handler): void;
  /** Open watch streams. */
  watchCount(): number;
  stop(): Promise<void>;
}

export interface FakeKubeOptions {
  /** Extra kinds, consulted before RESOURCES. */
  resources?: readonly ResourceType[];
  token?: string;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface LoggedEvent {
  rv: number;
  collection: string;
  type: EventType;
  object: KubeObject;
  /** The object before this change (MODIFIED, DELETED), to turn selector transitions into ADDED/DELETED. */
  prev: KubeObject | undefined;
}

interface Requirement {
  key: string;
  op: '=' | '!=' | 'exists' | '!exists';
  value: string;
}

interface Watcher {
  collection: string;
  namespace: string | undefined;
  labels: Requirement[];
  fields: Requirement[];
  res: ServerResponse;
  timer: NodeJS.Timeout | undefined;
}

interface Target {
  resource: ResourceType;
  collection: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

interface FailRule {
  method: string;
  prefix: string;
  status: number;
  remaining: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A Kubernetes Status object (`kind: Status`, `status: Failure`). */
export function statusBody(code: number, message: string, reason = REASONS[code] ?? 'Unknown', details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

class HttpError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: number, message: string, reason = REASONS[code] ?? 'Unknown', details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const clone = <T>(v: T): T => structuredClone(v);
const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
const isBuiltin = (apiVersion: string): boolean => {
  const g = groupOf(apiVersion);
  return g === '' || !g.includes('.') || g.endsWith('.k8s.io');
};
const collectionPath = (apiVersion: string, plural: string): string => `${apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`}/${plural}`;
/** How the real server names a resource in messages: `secrets`, `connectors.connectors.alauda.io`. */
const qualified = (r: ResourceType): string => (groupOf(r.apiVersion) ? `${r.plural}.${groupOf(r.apiVersion)}` : r.plural);
const hasStatusSubresource = (r: ResourceType): boolean => r.statusSubresource ?? !isBuiltin(r.apiVersion);
const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

function kindOf(plural: string): string {
  let s = plural;
  if (/[^aeiou]ies$/.test(s)) s = `${s.slice(0, -3)}y`;
  else if (/(s|x|z|ch|sh)es$/.test(s)) s = s.slice(0, -2);
  else if (s.endsWith('s')) s = s.slice(0, -1);
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function parseSelector(text: string, what: 'label' | 'field'): Requirement[] {
  const out: Requirement[] = [];
  if (text.includes('(')) throw new HttpError(400, `fake-kube: set-based ${what} selectors are not supported: ${text}`);
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(part))) out.push({ key: m[1]!, op: '!=', value: m[2]!.trim() });
    else if ((m = /^([^!=\s]+)\s*==?\s*(.*)$/.exec(part))) out.push({ key: m[1]!, op: '=', value: m[2]!.trim() });
    else if (what === 'label' && (m = /^!\s*([^!=\s]+)$/.exec(part))) out.push({ key: m[1]!, op: '!exists', value: '' });
    else if (what === 'label' && /^[^!=\s]+$/.test(part)) out.push({ key: part, op: 'exists', value: '' });
    else throw new HttpError(400, `unable to parse requirement: ${part}`);
  }
  return out;
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) cur = isRecord(cur) ? cur[seg] : undefined;
  return typeof cur === 'string' ? cur : cur === undefined || cur === null ? '' : String(cur);
}

function satisfies(reqs: readonly Requirement[], get: (key: string) => string | undefined): boolean {
  return reqs.every((r) => {
    const v = get(r.key);
    switch (r.op) {
      case '=':
        return v === r.value;
      case '!=':
        return v !== r.value;
      case 'exists':
        return v !== undefined;
      case '!exists':
        return v === undefined;
    }
  });
}

function uidFor(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function kubeconfigYaml(url: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: fake-kube',
    '    cluster:',
    `      server: ${url}`,
    '      insecure-skip-tls-verify: true',
    'users:',
    '  - name: fake-kube',
    '    user:',
    `      token: ${token}`,
    'contexts:',
    '  - name: fake-kube',
    '    context:',
    '      cluster: fake-kube',
    '      user: fake-kube',
    '      namespace: default',
    'current-context: fake-kube',
    '',
  ].join('\n');
}

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const table: readonly ResourceType[] = [...(options.resources ?? []), ...RESOURCES];
  const token = options.token ?? 'fake-kube-token';
  const requests: RecordedRequest[] = [];
  /** collection path → `${namespace}/${name}` → object. */
  const store = new Map<string, Map<string, KubeObject>>();
  const incarnations = new Map<string, number>();
  const log: LoggedEvent[] = [];
  const watchers = new Set<Watcher>();
  const failRules: FailRule[] = [];
  const handlers: { method: string; path: string; handler: Handler }[] = [];
  let rv = 1;
  let compactedAt = 0;

  const byPlural = (apiVersion: string, plural: string, namespaced: boolean): ResourceType =>
    table.find((r) => r.apiVersion === apiVersion && r.plural === plural) ?? { apiVersion, plural, kind: kindOf(plural), namespaced };
  const byKind = (apiVersion: string, kind: string): ResourceType =>
    table.find((r) => r.apiVersion === apiVersion && r.kind === kind) ?? { apiVersion, kind, plural: pluralOf(kind), namespaced: true };
  const bucket = (collection: string): Map<string, KubeObject> => {
    let m = store.get(collection);
    if (!m) store.set(collection, (m = new Map()));
    return m;
  };

  const notFound = (r: ResourceType, name: string): HttpError =>
    new HttpError(404, `${qualified(r)} "${name}" not found`, 'NotFound', { name, ...(groupOf(r.apiVersion) ? { group: groupOf(r.apiVersion) } : {}), kind: r.plural });
  const conflict = (r: ResourceType, name: string): HttpError =>
    new HttpError(
      409,
      `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      'Conflict',
      {
        name,
        ...(groupOf(r.apiVersion) ? { group: groupOf(r.apiVersion) } : {}),
        kind: r.plural,
      },
    );

  /** Sets the server-managed metadata of `next` from `prev` (uid, creationTimestamp, generation); returns whether anything but resourceVersion changed. */
  function stamp(next: KubeObject, prev: KubeObject | undefined, collection: string, ns: string): boolean {
    const md = next.metadata;
    if (prev) {
      md.uid = prev.metadata.uid;
      md.creationTimestamp = prev.metadata.creationTimestamp;
      md.generation = (prev.metadata.generation ?? 1) + (isDeepStrictEqual(prev.spec, next.spec) ? 0 : 1);
      md.resourceVersion = prev.metadata.resourceVersion;
      if (isDeepStrictEqual(prev, next)) return false;
    } else {
      const key = `${collection}/${ns}/${md.name}`;
      const n = (incarnations.get(key) ?? 0) + 1;
      incarnations.set(key, n);
      md.uid ??= uidFor(n === 1 ? key : `${key}#${n}`);
      md.creationTimestamp ??= now();
      md.generation = 1;
    }
    md.resourceVersion = String(++rv);
    return true;
  }

  function deliver(w: Watcher, ev: LoggedEvent): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    const matches = (o: KubeObject | undefined): boolean =>
      o !== undefined &&
      (w.namespace === undefined || (o.metadata.namespace ?? '') === w.namespace) &&
      satisfies(w.labels, (k) => o.metadata.labels?.[k]) &&
      satisfies(w.fields, (k) => fieldValue(o, k));
    const before = matches(ev.prev);
    const after = ev.type !== 'DELETED' && matches(ev.object);
    const type: EventType | undefined = after ? (before ? 'MODIFIED' : 'ADDED') : before ? 'DELETED' : undefined;
    if (type) w.res.write(`${JSON.stringify({ type, object: ev.object })}\n`);
  }

  function emit(collection: string, type: EventType, object: KubeObject, prev: KubeObject | undefined): void {
    const ev: LoggedEvent = { rv: Number(object.metadata.resourceVersion), collection, type, object: clone(object), prev: prev && clone(prev) };
    log.push(ev);
    for (const w of watchers) if (w.collection === collection) deliver(w, ev);
  }

  function endWatch(w: Watcher, last?: unknown): void {
    if (w.timer) clearTimeout(w.timer);
    watchers.delete(w);
    if (!w.res.writableEnded && !w.res.destroyed) {
      if (last !== undefined) w.res.write(`${JSON.stringify(last)}\n`);
      w.res.end();
    }
  }

  // ---- test side ----

  function put(obj: KubeObject): KubeObject {
    const r = byKind(obj.apiVersion, obj.kind);
    const collection = collectionPath(r.apiVersion, r.plural);
    const ns = r.namespaced ? (obj.metadata.namespace ?? '') : '';
    if (r.namespaced && ns === '') throw new Error(`fake-kube put: ${obj.kind} ${obj.metadata.name} needs metadata.namespace`);
    const key = `${ns}/${obj.metadata.name}`;
    const prev = bucket(collection).get(key);
    const next = clone(obj);
    if (!r.namespaced) delete next.metadata.namespace;
    if (!stamp(next, prev, collection, ns)) next.metadata.resourceVersion = String(++rv);
    bucket(collection).set(key, next);
    emit(collection, prev ? 'MODIFIED' : 'ADDED', next, prev);
    return clone(next);
  }

  function remove(apiVersion: string, kind: string, namespace: string, name: string): void {
    const r = byKind(apiVersion, kind);
    const collection = collectionPath(r.apiVersion, r.plural);
    deleteStored(collection, r.namespaced ? namespace : '', name);
  }

  function deleteStored(collection: string, ns: string, name: string): KubeObject | undefined {
    const b = bucket(collection);
    const prev = b.get(`${ns}/${name}`);
    if (!prev) return undefined;
    b.delete(`${ns}/${name}`);
    const gone = clone(prev);
    gone.metadata.resourceVersion = String(++rv);
    emit(collection, 'DELETED', gone, prev);
    return gone;
  }

  function getStored(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const r = byKind(apiVersion, kind);
    const o = store.get(collectionPath(r.apiVersion, r.plural))?.get(`${r.namespaced ? namespace : ''}/${name}`);
    return o && clone(o);
  }

  function sorted(collection: string): KubeObject[] {
    return [...(store.get(collection)?.values() ?? [])].sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`),
    );
  }

  // ---- HTTP side ----

  function parseTarget(path: string): Target | undefined {
    let segs: string[];
    try {
      segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return undefined;
    }
    let apiVersion: string;
    let rest: string[];
    if (segs[0] === 'api' && segs[1]) [apiVersion, rest] = [segs[1], segs.slice(2)];
    else if (segs[0] === 'apis' && segs[1] && segs[2]) [apiVersion, rest] = [`${segs[1]}/${segs[2]}`, segs.slice(3)];
    else return undefined;
    let namespace: string | undefined;
    const namespaceSubresource = rest[0] === 'namespaces' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
    if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresource) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    if (rest.length < 1 || rest.length > 3) return undefined;
    const [plural, name, subresource] = rest as [string, string | undefined, string | undefined];
    const resource = byPlural(apiVersion, plural, namespace !== undefined || name === undefined);
    if (namespace !== undefined && !resource.namespaced) return undefined;
    if (namespace === undefined && name !== undefined && resource.namespaced) return undefined;
    if (subresource !== undefined && (subresource !== 'status' || !hasStatusSubresource(resource))) return undefined;
    return { resource, collection: collectionPath(apiVersion, plural), namespace, name, subresource };
  }

  /** A request body as a KubeObject of this target (apiVersion/kind/name/namespace checked or filled in). */
  function objectFromBody(body: unknown, t: Target): KubeObject {
    if (!isRecord(body) || !isRecord(body['metadata'])) throw new HttpError(400, 'the request body must be an object with metadata');
    const r = t.resource;
    if (body['apiVersion'] !== undefined && body['apiVersion'] !== r.apiVersion)
      throw new HttpError(400, `the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${r.apiVersion})`);
    if (body['kind'] !== undefined && body['kind'] !== r.kind)
      throw new HttpError(400, `the kind in the data (${String(body['kind'])}) does not match the expected kind (${r.kind})`);
    const md = { ...body['metadata'] };
    if (r.namespaced) {
      if (md['namespace'] !== undefined && md['namespace'] !== t.namespace)
        throw new HttpError(400, 'the namespace of the provided object does not match the namespace sent on the request');
      md['namespace'] = t.namespace;
    } else delete md['namespace'];
    if (typeof md['name'] !== 'string' || md['name'] === '') {
      if (t.name === undefined && typeof md['generateName'] === 'string' && md['generateName'] !== '')
        md['name'] = `${md['generateName']}${uidFor(`${rv}/${Math.random()}`).slice(0, 5)}`;
      else if (t.name !== undefined) md['name'] = t.name;
      else throw new HttpError(422, `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, 'Invalid');
    }
    if (t.name !== undefined && md['name'] !== t.name) throw new HttpError(400, 'the name of the object does not match the name on the URL');
    return { ...body, apiVersion: r.apiVersion, kind: r.kind, metadata: md as KubeMetadata };
  }

  function list(t: Target, query: URLSearchParams): unknown {
    const labels = parseSelector(query.get('labelSelector') ?? '', 'label');
    const fields = fieldRequirements(t, query);
    const items = sorted(t.collection)
      .filter((o) => t.namespace === undefined || o.metadata.namespace === t.namespace)
      .filter((o) => satisfies(labels, (k) => o.metadata.labels?.[k]) && satisfies(fields, (k) => fieldValue(o, k)))
      .map((o) => {
        if (!isBuiltin(t.resource.apiVersion)) return o;
        const { apiVersion: _a, kind: _k, ...rest } = o;
        return rest;
      });
    return { apiVersion: t.resource.apiVersion, kind: `${t.resource.kind}List`, metadata: { resourceVersion: String(rv) }, items };
  }

  function fieldRequirements(t: Target, query: URLSearchParams): Requirement[] {
    const fields = parseSelector(query.get('fieldSelector') ?? '', 'field');
    const allowed = ['metadata.name', 'metadata.namespace', ...(t.resource.fieldSelectors ?? [])];
    for (const f of fields) if (!allowed.includes(f.key)) throw new HttpError(400, `"${f.key}" is not a known field selector: only "${allowed.join('", "')}"`);
    return fields;
  }

  function watch(t: Target, query: URLSearchParams, res: ServerResponse): void {
    const labels = parseSelector(query.get('labelSelector') ?? '', 'label');
    const fields = fieldRequirements(t, query);
    const from = query.get('resourceVersion') ?? '';
    if (from !== '' && !/^\d+$/.test(from)) throw new HttpError(400, `invalid resource version: ${from}`);
    if (from !== '' && from !== '0' && Number(from) < compactedAt) throw new HttpError(410, `too old resource version: ${from} (${compactedAt})`, 'Expired');
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { collection: t.collection, namespace: t.namespace, labels, fields, res, timer: undefined };
    watchers.add(w);
    res.on('close', () => {
      if (w.timer) clearTimeout(w.timer);
      watchers.delete(w);
    });
    const timeout = Number(query.get('timeoutSeconds') ?? '');
    if (timeout > 0) w.timer = setTimeout(() => endWatch(w), timeout * 1000);
    if (from === '' || from === '0') {
      for (const o of sorted(t.collection)) deliver(w, { rv: Number(o.metadata.resourceVersion), collection: t.collection, type: 'ADDED', object: o, prev: undefined });
    } else {
      for (const ev of log) if (ev.collection === t.collection && ev.rv > Number(from)) deliver(w, ev);
    }
  }

  function create(t: Target, body: unknown): HandlerResult {
    const r = t.resource;
    if (r.namespaced && t.namespace === undefined) throw new HttpError(405, `the server does not allow this method on the requested resource`);
    if (r.review) {
      if (!isRecord(body)) throw new HttpError(400, 'the request body must be an object');
      return { status: 201, body: { ...body, apiVersion: r.apiVersion, kind: r.kind, metadata: isRecord(body['metadata']) ? body['metadata'] : {}, status: clone(r.review) } };
    }
    const next = objectFromBody(body, t);
    if (next.metadata.resourceVersion !== undefined && next.metadata.resourceVersion !== '')
      throw new HttpError(500, 'Internal error occurred: resourceVersion should not be set on objects to be created');
    delete next.metadata.resourceVersion;
    const ns = t.namespace ?? '';
    const b = bucket(t.collection);
    const key = `${ns}/${next.metadata.name}`;
    if (b.has(key)) {
      const name = next.metadata.name;
      throw new HttpError(409, `${qualified(r)} "${name}" already exists`, 'AlreadyExists', {
        name,
        ...(groupOf(r.apiVersion) ? { group: groupOf(r.apiVersion) } : {}),
        kind: r.plural,
      });
    }
    if (hasStatusSubresource(r)) delete next.status;
    delete next.metadata.uid;
    delete next.metadata.creationTimestamp;
    stamp(next, undefined, t.collection, ns);
    b.set(key, next);
    emit(t.collection, 'ADDED', next, undefined);
    return { status: 201, body: next };
  }

  /** Stores `next` for an existing object unless nothing changed; answers the stored object. */
  function update(t: Target, prev: KubeObject, next: KubeObject): HandlerResult {
    if (stamp(next, prev, t.collection, t.namespace ?? '')) {
      bucket(t.collection).set(`${t.namespace ?? ''}/${prev.metadata.name}`, next);
      emit(t.collection, 'MODIFIED', next, prev);
      return { status: 200, body: next };
    }
    return { status: 200, body: prev };
  }

  function stored(t: Target): KubeObject {
    const name = t.name!;
    const o = store.get(t.collection)?.get(`${t.namespace ?? ''}/${name}`);
    if (!o) throw notFound(t.resource, name);
    return o;
  }

  function replace(t: Target, body: unknown): HandlerResult {
    const prev = stored(t);
    const incoming = objectFromBody(body, t);
    const want = incoming.metadata.resourceVersion;
    if (want === undefined || want === '') {
      if (!isBuiltin(t.resource.apiVersion))
        throw new HttpError(
          422,
          `${t.resource.kind}.${groupOf(t.resource.apiVersion)} "${t.name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
          'Invalid',
        );
    } else if (want !== prev.metadata.resourceVersion) throw conflict(t.resource, t.name!);
    let next: KubeObject;
    if (t.subresource === 'status') {
      next = clone(prev);
      if (incoming.status === undefined) delete next.status;
      else next.status = clone(incoming.status);
    } else {
      next = clone(incoming);
      if (hasStatusSubresource(t.resource)) {
        if (prev.status === undefined) delete next.status;
        else next.status = clone(prev.status);
      }
    }
    return update(t, prev, next);
  }

  function patch(t: Target, body: unknown, contentType: string): HandlerResult {
    if (contentType !== 'application/merge-patch+json' && contentType !== 'application/strategic-merge-patch+json') {
      throw new HttpError(
        415,
        `the body of the request was in an unknown format (${contentType || 'no content-type'}) - fake-kube accepts application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    const prev = stored(t);
    if (!isRecord(body)) throw new HttpError(400, 'the patch must be a JSON object');
    const md = body['metadata'];
    const want = isRecord(md) ? md['resourceVersion'] : undefined;
    if (typeof want === 'string' && want !== '' && want !== prev.metadata.resourceVersion) throw conflict(t.resource, t.name!);
    const merged = clone(mergePatch(prev, body));
    if (!isRecord(merged) || !isRecord(merged['metadata'])) throw new HttpError(422, 'the patched object has no metadata', 'Invalid');
    let next: KubeObject;
    if (t.subresource === 'status') {
      next = clone(prev);
      if (isRecord(merged['status'])) next.status = merged['status'];
      else delete next.status;
    } else {
      next = { ...merged, apiVersion: prev.apiVersion, kind: prev.kind, metadata: { ...(merged['metadata'] as KubeMetadata), name: prev.metadata.name } };
      if (prev.metadata.namespace === undefined) delete next.metadata.namespace;
      else next.metadata.namespace = prev.metadata.namespace;
      if (hasStatusSubresource(t.resource)) {
        if (prev.status === undefined) delete next.status;
        else next.status = clone(prev.status);
      }
    }
    return update(t, prev, next);
  }

  function del(t: Target, body: unknown): HandlerResult {
    const prev = stored(t);
    const pre = isRecord(body) ? body['preconditions'] : undefined;
    if (isRecord(pre)) {
      if (typeof pre['resourceVersion'] === 'string' && pre['resourceVersion'] !== prev.metadata.resourceVersion) throw conflict(t.resource, t.name!);
      if (typeof pre['uid'] === 'string' && pre['uid'] !== prev.metadata.uid)
        throw new HttpError(409, `Precondition failed: UID in precondition: ${pre['uid']}, UID in object meta: ${prev.metadata.uid}`, 'Conflict');
    }
    return { status: 200, body: deleteStored(t.collection, t.namespace ?? '', t.name!) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-kube');
    const method = (req.method ?? 'GET').toUpperCase();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let body: unknown;
    let badJson = false;
    if (rawBody !== '' && (contentType === '' || contentType.includes('json'))) {
      try {
        body = JSON.parse(rawBody);
      } catch {
        badJson = true;
      }
    }
    const headers: RecordedRequest['headers'] = {};
    if (req.headers['content-type'] !== undefined) headers['content-type'] = req.headers['content-type'];
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
    const recorded: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, rawBody, headers };
    requests.push(recorded);
    const isWatch = method === 'GET' && (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1');
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    try {
      const rule = failRules.find(
        (f) =>
          f.remaining > 0 &&
          url.pathname.startsWith(f.prefix) &&
          (f.method === '*' || f.method === method || (f.method === 'WATCH' && isWatch) || (f.method === 'LIST' && method === 'GET' && !isWatch)),
      );
      if (rule) {
        rule.remaining--;
        throw new HttpError(rule.status, `fake-kube: injected failure ${rule.status} for ${method} ${url.pathname}`);
      }
      for (let i = handlers.length - 1; i >= 0; i--) {
        const h = handlers[i]!;
        if (h.method !== method || h.path !== url.pathname) continue;
        const out = await h.handler(body, recorded);
        if (out) return send(out.status, out.body);
      }
      if (badJson) throw new HttpError(400, 'the request body is not valid JSON');
      if (method === 'GET' && url.pathname === '/version') return send(200, { major: '1', minor: '33', gitVersion: 'v1.33.0-fake-kube' });
      const t = parseTarget(url.pathname);
      if (!t) throw new HttpError(404, 'the server could not find the requested resource', 'NotFound');
      if (t.name === undefined) {
        if (method === 'GET' && isWatch) return watch(t, url.searchParams, res);
        if (method === 'GET') return send(200, list(t, url.searchParams));
        if (method === 'POST') {
          const out = create(t, body);
          return send(out.status, out.body);
        }
        throw new HttpError(405, 'the server does not allow this method on the requested resource');
      }
      if (t.resource.review) throw new HttpError(405, 'the server does not allow this method on the requested resource');
      let out: HandlerResult;
      switch (method) {
        case 'GET':
          if (isWatch) throw new HttpError(400, 'fake-kube: watch a collection (with fieldSelector=metadata.name=...), not an object URL');
          out = { status: 200, body: stored(t) };
          break;
        case 'PUT':
          out = replace(t, body);
          break;
        case 'PATCH':
          out = patch(t, body, contentType);
          break;
        case 'DELETE':
          out = del(t, body);
          break;
        default:
          throw new HttpError(405, 'the server does not allow this method on the requested resource');
      }
      send(out.status, out.body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) send(err.code, statusBody(err.code, err.message, err.reason, err.details));
      else send(500, statusBody(500, `fake-kube: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy()); // e.g. the client went away mid-body
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-'));
  const kubeconfigPath = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, token));

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    put,
    remove,
    get: getStored,
    list: (apiVersion, kind) => {
      const r = byKind(apiVersion, kind);
      return sorted(collectionPath(r.apiVersion, r.plural)).map(clone);
    },
    resourceVersion: () => String(rv),
    expireWatches() {
      compactedAt = rv;
      log.splice(0, log.length, ...log.filter((e) => e.rv > compactedAt));
      const expired = { type: 'ERROR', object: statusBody(410, `too old resource version: ${rv}`, 'Expired') };
      for (const w of [...watchers]) endWatch(w, expired);
    },
    closeWatches() {
      for (const w of [...watchers]) endWatch(w);
    },
    failNext(method, pathPrefix, status, times = 1) {
      failRules.push({ method: method.toUpperCase(), prefix: pathPrefix, status, remaining: times });
    },
    respond(method, path, handler) {
      handlers.push({ method: method.toUpperCase(), path, handler });
    },
    watchCount: () => watchers.size,
    stop: () =>
      new Promise<void>((r) => {
        for (const w of [...watchers]) endWatch(w);
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}
