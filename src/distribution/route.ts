/**
 * Parses a request target into a Distribution API route, checking every name, reference and
 * digest before anything is forwarded. Pure: no I/O, throws RegistryError for bad input.
 */
import { RegistryError } from './errors.ts';
import { digestProblem, isDigest, nameProblem, tagProblem } from './names.ts';

export type Endpoint =
  | 'base' // GET /v2/
  | 'catalog' // GET /v2/_catalog
  | 'manifest' // /v2/<name>/manifests/<reference>
  | 'blob' // /v2/<name>/blobs/<digest>
  | 'upload-start' // POST /v2/<name>/blobs/uploads/
  | 'upload' // /v2/<name>/blobs/uploads/<id>
  | 'tags' // GET /v2/<name>/tags/list
  | 'referrers'; // GET /v2/<name>/referrers/<digest>

/** A connector chosen by the path, `/v2/namespaces/<ns>/connectors/<name>/...`. */
export interface PathSelector {
  namespace: string;
  name: string;
}

export interface Route {
  endpoint: Endpoint;
  /** Connector named by a path prefix, if the request carried one. */
  selector: PathSelector | undefined;
  /** Repository name as the client sent it (without any connector prefix). */
  repository: string | undefined;
  /** Tag or digest (manifests), digest (blobs, referrers). */
  reference: string | undefined;
  /** Upload session id as the upstream issued it. */
  uploadId: string | undefined;
  /** Path after `/v2/<repository>`, e.g. `/manifests/latest`; the whole path after `/v2` otherwise. */
  tail: string;
  /**
   * The query as it goes upstream, including the leading `?`, or '': re-encoded from the parsed
   * parameters (repeated `digest`, `mount` or `from` refused), never the client's raw bytes.
   */
  query: string;
  /** Cross-repository mount source (`from=`), when the request is a mount. */
  mountFrom: string | undefined;
  /**
   * The registry a mirror request is for (containerd's `?ns=<registry host>`): a key to choose a
   * connector by, taken out of the query (never forwarded, never dialled).
   */
  ns: string | undefined;
}

const ALLOWED: Record<Endpoint, readonly string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET', 'HEAD'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  tags: ['GET', 'HEAD'],
  referrers: ['GET', 'HEAD'],
};

/** Characters a Distribution API path may hold; anything else is not an API path. */
const PATH_CHARS = /^[A-Za-z0-9._~\-/:=+]*$/;
const SEGMENT_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const UPLOAD_ID = /^[A-Za-z0-9._~=+-]{1,256}$/;

function notFound(target: string): RegistryError {
  return new RegistryError(404, 'UNSUPPORTED', 'not a Distribution API path', { path: target.slice(0, 256) });
}

/** Splits `/v2/<rest>` into segments, refusing anything that is not a plain API path. */
function segments(path: string): string[] {
  if (!PATH_CHARS.test(path)) throw notFound(path);
  const segs = path.split('/');
  // path starts with '/v2', so segs[0] === '' and segs[1] === 'v2'
  for (let i = 2; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '.' || s === '..') throw notFound(path);
    if (s === '' && i !== segs.length - 1) throw notFound(path); // '//' anywhere
  }
  return segs.slice(2);
}

export function parseRoute(method: string, target: string): Route {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  if (path !== '/v2' && !path.startsWith('/v2/')) throw notFound(target);
  const ns = takeNs(params);
  const { selector, segs } = takeSelector(segments(path));
  const shape = endpointOf(segs);
  if (!shape) throw notFound(target);
  const route: Route = {
    endpoint: shape.endpoint,
    selector,
    repository: undefined,
    reference: shape.reference,
    uploadId: shape.uploadId,
    tail: shape.nameEnd === undefined ? shape.tail! : '/' + segs.slice(shape.nameEnd).join('/'),
    query: encodeQuery(params),
    mountFrom: undefined,
    ns,
  };
  if (shape.nameEnd === undefined) return checkMethod(method, route, target);
  const repository = segs.slice(0, shape.nameEnd).join('/');
  const problem = nameProblem(repository);
  if (problem) throw new RegistryError(400, 'NAME_INVALID', problem, { name: repository.slice(0, 300) });
  route.repository = repository;
  checkMethod(method, route, target);
  checkReference(method, route);
  checkQuery(method, route, params);
  return route;
}

/** A registry host[:port] as `ns` may name one. */
const REGISTRY_HOST = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/i;

/** `ns` out of the query: at most one, a registry host. */
function takeNs(params: URLSearchParams): string | undefined {
  const all = params.getAll('ns');
  params.delete('ns');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw new RegistryError(400, 'NAME_INVALID', 'query parameter ns is given more than once');
  if (!REGISTRY_HOST.test(all[0]!) || all[0]!.length > 255)
    throw new RegistryError(400, 'NAME_INVALID', 'query parameter ns is not a registry host', { ns: all[0]!.slice(0, 100) });
  return all[0]!.toLowerCase();
}

/** The connector path prefix `namespaces/<ns>/connectors/<name>/`, if the path starts with one. */
function takeSelector(segs: string[]): { selector: PathSelector | undefined; segs: string[] } {
  if (segs[0] !== 'namespaces' || segs[2] !== 'connectors' || segs.length < 4) return { selector: undefined, segs };
  const namespace = segs[1]!;
  const name = segs[3]!;
  if (!SEGMENT_NAME.test(namespace) || !SEGMENT_NAME.test(name)) {
    throw new RegistryError(404, 'NAME_UNKNOWN', 'invalid connector in path prefix', { namespace, name });
  }
  return { selector: { namespace, name }, segs: segs.slice(4) };
}

interface Shape {
  endpoint: Endpoint;
  /** Segments [0, nameEnd) form the repository name; undefined for endpoints without one. */
  nameEnd?: number;
  /** The tail of an endpoint without a repository. */
  tail?: string;
  reference?: string;
  uploadId?: string;
}

/** Which endpoint the segments after `/v2/` (and any prefix) name, read from their end. */
function endpointOf(segs: string[]): Shape | undefined {
  const n = segs.length;
  const last = segs[n - 1];
  const prev = segs[n - 2];
  if (n === 0 || (n === 1 && last === '')) return { endpoint: 'base', tail: '/' };
  if (n === 1 && last === '_catalog') return { endpoint: 'catalog', tail: '/_catalog' };
  if (n < 3) return undefined;
  if (prev === 'tags' && last === 'list') return { endpoint: 'tags', nameEnd: n - 2 };
  if (prev === 'manifests') return { endpoint: 'manifest', nameEnd: n - 2, reference: last };
  if (prev === 'referrers') return { endpoint: 'referrers', nameEnd: n - 2, reference: last };
  if (prev === 'blobs' && last === 'uploads') return { endpoint: 'upload-start', nameEnd: n - 2 };
  if (n >= 4 && segs[n - 3] === 'blobs' && prev === 'uploads') {
    return last === '' ? { endpoint: 'upload-start', nameEnd: n - 3 } : { endpoint: 'upload', nameEnd: n - 3, uploadId: last };
  }
  if (prev === 'blobs') return { endpoint: 'blob', nameEnd: n - 2, reference: last };
  return undefined;
}

/** `?a=1&b=2` from parsed parameters, or '' for none. */
export function encodeQuery(params: URLSearchParams): string {
  return params.size === 0 ? '' : '?' + params.toString();
}

/** A route's query with the mount source replaced (`from`), or without the mount (`null`): a plain upload. */
export function withMountFrom(route: Route, from: string | null): string {
  const params = new URLSearchParams(route.query.slice(1));
  if (from === null) {
    params.delete('mount');
    params.delete('from');
  } else {
    params.set('from', from);
  }
  return encodeQuery(params);
}

function checkMethod(method: string, route: Route, target: string): Route {
  const allowed = ALLOWED[route.endpoint];
  if (!allowed.includes(method)) {
    throw new RegistryError(
      405,
      'UNSUPPORTED',
      `method ${method} is not supported on this endpoint`,
      { path: target.slice(0, 256) },
      {
        allow: allowed.join(', '),
      },
    );
  }
  return route;
}

function checkReference(method: string, route: Route): void {
  const ref = route.reference;
  switch (route.endpoint) {
    case 'manifest': {
      if (ref === undefined || ref === '') throw new RegistryError(400, 'MANIFEST_INVALID', 'missing manifest reference');
      if (isDigest(ref)) {
        const p = digestProblem(ref);
        if (p) throw new RegistryError(400, 'DIGEST_INVALID', p);
      } else {
        const p = tagProblem(ref);
        // No manifest has an invalid tag (registries, and the OCI conformance suite, say 404);
        // pushing one is invalid input.
        if (p && method === 'PUT') throw new RegistryError(400, 'MANIFEST_INVALID', p);
        if (p) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest unknown: ${p}`, { reference: ref.slice(0, 200) });
      }
      return;
    }
    case 'blob':
    case 'referrers': {
      const p = digestProblem(ref ?? '');
      if (p) throw new RegistryError(400, 'DIGEST_INVALID', p);
      return;
    }
    case 'upload': {
      if (!UPLOAD_ID.test(route.uploadId ?? '')) {
        throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', 'invalid upload session id');
      }
      return;
    }
    default:
      return;
  }
}

/** Parameters that must appear at most once: the upstream would read only one of them. */
const SINGLE = ['digest', 'mount', 'from'] as const;

/** Query parameters that name digests or repositories are checked like the path. */
function checkQuery(method: string, route: Route, params: URLSearchParams): void {
  if (params.size === 0) return;
  for (const name of SINGLE) {
    if (params.getAll(name).length > 1) throw new RegistryError(400, name === 'from' ? 'NAME_INVALID' : 'DIGEST_INVALID', `query parameter ${name} is given more than once`);
  }
  if (route.endpoint === 'upload-start' || (route.endpoint === 'upload' && method === 'PUT')) {
    for (const d of params.getAll('digest')) {
      const p = digestProblem(d);
      if (p) throw new RegistryError(400, 'DIGEST_INVALID', p);
    }
  }
  if (route.endpoint === 'upload-start') {
    const mount = params.get('mount');
    const from = params.get('from');
    if (mount !== null) {
      const p = digestProblem(mount);
      if (p) throw new RegistryError(400, 'DIGEST_INVALID', p);
    }
    if (from !== null) {
      const p = nameProblem(from);
      if (p) throw new RegistryError(400, 'NAME_INVALID', p, { name: from.slice(0, 300) });
      if (mount !== null) route.mountFrom = from;
    }
  }
  if (route.endpoint === 'manifest' && method === 'PUT') {
    for (const t of params.getAll('tag')) {
      const p = tagProblem(t);
      if (p) throw new RegistryError(400, 'MANIFEST_INVALID', p);
    }
  }
}
