/** parseRoute: every Distribution endpoint, the connector path selector, method and input checks. */
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/distribution/errors.ts';
import { parseRoute, type Route } from '../../src/distribution/route.ts';

const HEX64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEX128 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';
const D = `sha256:${HEX64}`;
const D512 = `sha512:${HEX128}`;
const UUID = '3f1c2b7a-6d2e-4e8f-9a0b-1c2d3e4f5a6b';

/** A complete Route: every field the caller does not give is absent. */
function r(fields: Partial<Route>): Route {
  return {
    endpoint: 'base',
    selector: undefined,
    repository: undefined,
    reference: undefined,
    uploadId: undefined,
    tail: '',
    query: '',
    mountFrom: undefined,
    ns: undefined,
    ...fields,
  };
}

/** The RegistryError parseRoute throws, or a failure when it returns. */
function rejection(method: string, target: string): RegistryError {
  try {
    const route = parseRoute(method, target);
    throw new Error(`expected ${method} ${target} to be rejected, got ${JSON.stringify(route)}`);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    return err;
  }
}

describe('parseRoute: endpoints', () => {
  const cases: [method: string, target: string, expected: Route][] = [
    // base
    ['GET', '/v2/', r({ endpoint: 'base', tail: '/' })],
    ['GET', '/v2', r({ endpoint: 'base', tail: '/' })],
    ['HEAD', '/v2/', r({ endpoint: 'base', tail: '/' })],
    ['GET', '/v2/?x=1', r({ endpoint: 'base', tail: '/', query: '?x=1' })],
    // catalog
    ['GET', '/v2/_catalog', r({ endpoint: 'catalog', tail: '/_catalog' })],
    ['HEAD', '/v2/_catalog', r({ endpoint: 'catalog', tail: '/_catalog' })],
    ['GET', '/v2/_catalog?n=10&last=team%2Fapp', r({ endpoint: 'catalog', tail: '/_catalog', query: '?n=10&last=team%2Fapp' })],
    // manifests
    ['GET', '/v2/library/ubuntu/manifests/22.04', r({ endpoint: 'manifest', repository: 'library/ubuntu', reference: '22.04', tail: '/manifests/22.04' })],
    ['HEAD', '/v2/library/ubuntu/manifests/latest', r({ endpoint: 'manifest', repository: 'library/ubuntu', reference: 'latest', tail: '/manifests/latest' })],
    ['GET', `/v2/team/app/manifests/${D}`, r({ endpoint: 'manifest', repository: 'team/app', reference: D, tail: `/manifests/${D}` })],
    ['HEAD', `/v2/team/app/manifests/${D512}`, r({ endpoint: 'manifest', repository: 'team/app', reference: D512, tail: `/manifests/${D512}` })],
    ['PUT', '/v2/team/app/manifests/v1.0.0-rc_1', r({ endpoint: 'manifest', repository: 'team/app', reference: 'v1.0.0-rc_1', tail: '/manifests/v1.0.0-rc_1' })],
    ['PUT', `/v2/team/app/manifests/${D}`, r({ endpoint: 'manifest', repository: 'team/app', reference: D, tail: `/manifests/${D}` })],
    ['DELETE', `/v2/team/app/manifests/${D}`, r({ endpoint: 'manifest', repository: 'team/app', reference: D, tail: `/manifests/${D}` })],
    ['DELETE', '/v2/team/app/manifests/old', r({ endpoint: 'manifest', repository: 'team/app', reference: 'old', tail: '/manifests/old' })],
    ['GET', '/v2/ubuntu/manifests/_underscore', r({ endpoint: 'manifest', repository: 'ubuntu', reference: '_underscore', tail: '/manifests/_underscore' })],
    ['GET', `/v2/ubuntu/manifests/${'t'.repeat(128)}`, r({ endpoint: 'manifest', repository: 'ubuntu', reference: 't'.repeat(128), tail: `/manifests/${'t'.repeat(128)}` })],
    // blobs
    ['GET', `/v2/team/app/blobs/${D}`, r({ endpoint: 'blob', repository: 'team/app', reference: D, tail: `/blobs/${D}` })],
    ['HEAD', `/v2/team/app/blobs/${D}`, r({ endpoint: 'blob', repository: 'team/app', reference: D, tail: `/blobs/${D}` })],
    ['DELETE', `/v2/team/app/blobs/${D}`, r({ endpoint: 'blob', repository: 'team/app', reference: D, tail: `/blobs/${D}` })],
    ['GET', `/v2/team/app/blobs/${D512}`, r({ endpoint: 'blob', repository: 'team/app', reference: D512, tail: `/blobs/${D512}` })],
    ['GET', `/v2/team/app/blobs/blake3:${HEX64}`, r({ endpoint: 'blob', repository: 'team/app', reference: `blake3:${HEX64}`, tail: `/blobs/blake3:${HEX64}` })],
    // upload start, with and without trailing slash
    ['POST', '/v2/team/app/blobs/uploads/', r({ endpoint: 'upload-start', repository: 'team/app', tail: '/blobs/uploads/' })],
    ['POST', '/v2/team/app/blobs/uploads', r({ endpoint: 'upload-start', repository: 'team/app', tail: '/blobs/uploads' })],
    // upload session
    ['PATCH', `/v2/team/app/blobs/uploads/${UUID}`, r({ endpoint: 'upload', repository: 'team/app', uploadId: UUID, tail: `/blobs/uploads/${UUID}` })],
    ['GET', `/v2/team/app/blobs/uploads/${UUID}`, r({ endpoint: 'upload', repository: 'team/app', uploadId: UUID, tail: `/blobs/uploads/${UUID}` })],
    ['DELETE', `/v2/team/app/blobs/uploads/${UUID}`, r({ endpoint: 'upload', repository: 'team/app', uploadId: UUID, tail: `/blobs/uploads/${UUID}` })],
    [
      'PATCH',
      `/v2/team/app/blobs/uploads/${UUID}?_state=AbC%2BdEf%3D%3D&x=a+b`,
      r({ endpoint: 'upload', repository: 'team/app', uploadId: UUID, tail: `/blobs/uploads/${UUID}`, query: '?_state=AbC%2BdEf%3D%3D&x=a+b' }),
    ],
    ['PATCH', '/v2/a/blobs/uploads/AB~c.d_e=f+g-h', r({ endpoint: 'upload', repository: 'a', uploadId: 'AB~c.d_e=f+g-h', tail: '/blobs/uploads/AB~c.d_e=f+g-h' })],
    ['PATCH', `/v2/a/blobs/uploads/${'u'.repeat(256)}`, r({ endpoint: 'upload', repository: 'a', uploadId: 'u'.repeat(256), tail: `/blobs/uploads/${'u'.repeat(256)}` })],
    // tags
    ['GET', '/v2/team/app/tags/list', r({ endpoint: 'tags', repository: 'team/app', tail: '/tags/list' })],
    ['HEAD', '/v2/team/app/tags/list', r({ endpoint: 'tags', repository: 'team/app', tail: '/tags/list' })],
    ['GET', '/v2/team/app/tags/list?n=10&last=v1', r({ endpoint: 'tags', repository: 'team/app', tail: '/tags/list', query: '?n=10&last=v1' })],
    // referrers
    ['GET', `/v2/team/app/referrers/${D}`, r({ endpoint: 'referrers', repository: 'team/app', reference: D, tail: `/referrers/${D}` })],
    ['HEAD', `/v2/team/app/referrers/${D}`, r({ endpoint: 'referrers', repository: 'team/app', reference: D, tail: `/referrers/${D}` })],
    [
      'GET',
      `/v2/team/app/referrers/${D}?artifactType=application%2Fvnd.example.sbom.v1%2Bjson`,
      r({ endpoint: 'referrers', repository: 'team/app', reference: D, tail: `/referrers/${D}`, query: '?artifactType=application%2Fvnd.example.sbom.v1%2Bjson' }),
    ],
  ];
  it.each(cases)('%s %s', (method, target, expected) => {
    expect(parseRoute(method, target)).toEqual(expected);
  });
});

describe('parseRoute: names with several and tricky components', () => {
  const cases: [method: string, target: string, expected: Route][] = [
    ['GET', '/v2/a/b/c/d/e/manifests/latest', r({ endpoint: 'manifest', repository: 'a/b/c/d/e', reference: 'latest', tail: '/manifests/latest' })],
    [
      'GET',
      '/v2/my-org/my_app.v2/sub__x/a--b/manifests/latest',
      r({ endpoint: 'manifest', repository: 'my-org/my_app.v2/sub__x/a--b', reference: 'latest', tail: '/manifests/latest' }),
    ],
    ['GET', '/v2/a/blobs/b/manifests/latest', r({ endpoint: 'manifest', repository: 'a/blobs/b', reference: 'latest', tail: '/manifests/latest' })],
    ['GET', `/v2/a/blobs/b/blobs/${D}`, r({ endpoint: 'blob', repository: 'a/blobs/b', reference: D, tail: `/blobs/${D}` })],
    ['POST', '/v2/a/blobs/b/blobs/uploads/', r({ endpoint: 'upload-start', repository: 'a/blobs/b', tail: '/blobs/uploads/' })],
    ['GET', '/v2/x/tags/y/tags/list', r({ endpoint: 'tags', repository: 'x/tags/y', tail: '/tags/list' })],
    ['GET', '/v2/x/tags/list/tags/list', r({ endpoint: 'tags', repository: 'x/tags/list', tail: '/tags/list' })],
    ['GET', '/v2/tags/tags/list', r({ endpoint: 'tags', repository: 'tags', tail: '/tags/list' })],
    ['GET', '/v2/manifests/manifests/latest', r({ endpoint: 'manifest', repository: 'manifests', reference: 'latest', tail: '/manifests/latest' })],
    ['GET', '/v2/manifests/manifests/manifests', r({ endpoint: 'manifest', repository: 'manifests', reference: 'manifests', tail: '/manifests/manifests' })],
    ['GET', '/v2/a/manifests/b/manifests/c', r({ endpoint: 'manifest', repository: 'a/manifests/b', reference: 'c', tail: '/manifests/c' })],
    ['GET', '/v2/manifests/tags/list', r({ endpoint: 'tags', repository: 'manifests', tail: '/tags/list' })],
    ['GET', `/v2/blobs/blobs/${D}`, r({ endpoint: 'blob', repository: 'blobs', reference: D, tail: `/blobs/${D}` })],
    ['POST', '/v2/uploads/blobs/uploads/', r({ endpoint: 'upload-start', repository: 'uploads', tail: '/blobs/uploads/' })],
    ['POST', '/v2/blobs/blobs/uploads/', r({ endpoint: 'upload-start', repository: 'blobs', tail: '/blobs/uploads/' })],
    ['GET', `/v2/a/blobs/uploads/blobs/${D}`, r({ endpoint: 'blob', repository: 'a/blobs/uploads', reference: D, tail: `/blobs/${D}` })],
    ['GET', `/v2/a/referrers/b/referrers/${D}`, r({ endpoint: 'referrers', repository: 'a/referrers/b', reference: D, tail: `/referrers/${D}` })],
    ['GET', '/v2/namespaces/manifests/latest', r({ endpoint: 'manifest', repository: 'namespaces', reference: 'latest', tail: '/manifests/latest' })],
    ['GET', '/v2/namespaces/ns/manifests/latest', r({ endpoint: 'manifest', repository: 'namespaces/ns', reference: 'latest', tail: '/manifests/latest' })],
  ];
  it.each(cases)('%s %s', (method, target, expected) => {
    expect(parseRoute(method, target)).toEqual(expected);
  });

  it('accepts a name of exactly 255 characters and rejects 256', () => {
    const name255 = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(name255).toHaveLength(255);
    expect(parseRoute('GET', `/v2/${name255}/manifests/latest`).repository).toBe(name255);
    const name256 = `${'a'.repeat(128)}/${'b'.repeat(127)}`;
    const err = rejection('GET', `/v2/${name256}/manifests/latest`);
    expect([err.status, err.code]).toEqual([400, 'NAME_INVALID']);
  });
});

describe('parseRoute: connector path selector', () => {
  const sel = { namespace: 'team-a', name: 'harbor' };
  const P = '/v2/namespaces/team-a/connectors/harbor';
  const cases: [method: string, target: string, expected: Route][] = [
    ['GET', `${P}/`, r({ endpoint: 'base', selector: sel, tail: '/' })],
    ['GET', P, r({ endpoint: 'base', selector: sel, tail: '/' })],
    ['GET', `${P}/_catalog?n=5`, r({ endpoint: 'catalog', selector: sel, tail: '/_catalog', query: '?n=5' })],
    ['GET', `${P}/library/ubuntu/manifests/22.04`, r({ endpoint: 'manifest', selector: sel, repository: 'library/ubuntu', reference: '22.04', tail: '/manifests/22.04' })],
    ['HEAD', `${P}/ubuntu/manifests/${D}`, r({ endpoint: 'manifest', selector: sel, repository: 'ubuntu', reference: D, tail: `/manifests/${D}` })],
    ['GET', `${P}/team/app/blobs/${D}`, r({ endpoint: 'blob', selector: sel, repository: 'team/app', reference: D, tail: `/blobs/${D}` })],
    ['POST', `${P}/team/app/blobs/uploads/`, r({ endpoint: 'upload-start', selector: sel, repository: 'team/app', tail: '/blobs/uploads/' })],
    [
      'PUT',
      `${P}/team/app/blobs/uploads/${UUID}?_state=a%2Bb%3D&digest=${D}`,
      r({ endpoint: 'upload', selector: sel, repository: 'team/app', uploadId: UUID, tail: `/blobs/uploads/${UUID}`, query: `?_state=a%2Bb%3D&digest=sha256%3A${HEX64}` }),
    ],
    ['GET', `${P}/team/app/tags/list`, r({ endpoint: 'tags', selector: sel, repository: 'team/app', tail: '/tags/list' })],
    ['GET', `${P}/team/app/referrers/${D}`, r({ endpoint: 'referrers', selector: sel, repository: 'team/app', reference: D, tail: `/referrers/${D}` })],
    // a repository whose own name starts with "namespaces" behind a selector
    ['GET', `${P}/namespaces/x/tags/list`, r({ endpoint: 'tags', selector: sel, repository: 'namespaces/x', tail: '/tags/list' })],
    [
      'GET',
      '/v2/namespaces/default/connectors/c-1/a/manifests/b',
      r({ endpoint: 'manifest', selector: { namespace: 'default', name: 'c-1' }, repository: 'a', reference: 'b', tail: '/manifests/b' }),
    ],
  ];
  it.each(cases)('%s %s', (method, target, expected) => {
    expect(parseRoute(method, target)).toEqual(expected);
  });

  const bad: [target: string, status: number, code: string][] = [
    ['/v2/namespaces/Team/connectors/harbor/a/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['/v2/namespaces/team/connectors/Harbor/a/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['/v2/namespaces/-team/connectors/harbor/a/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['/v2/namespaces/team/connectors/harbor-/', 404, 'NAME_UNKNOWN'],
    ['/v2/namespaces/team/connectors/harbor/Foo/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/namespaces/team/connectors/harbor//a/manifests/latest', 404, 'UNSUPPORTED'],
    ['/v2/namespaces/team/connectors/harbor/a', 404, 'UNSUPPORTED'],
    ['/v2/namespaces/team/connectors/harbor/../other/a/manifests/latest', 404, 'UNSUPPORTED'],
  ];
  it.each(bad)('GET %s -> %i %s', (target, status, code) => {
    const err = rejection('GET', target);
    expect([err.status, err.code]).toEqual([status, code]);
  });
});

describe('parseRoute: methods', () => {
  const cases: [method: string, target: string, allow: string][] = [
    ['POST', '/v2/', 'GET, HEAD'],
    ['PUT', '/v2', 'GET, HEAD'],
    ['DELETE', '/v2/_catalog', 'GET, HEAD'],
    ['POST', '/v2/a/manifests/latest', 'GET, HEAD, PUT, DELETE'],
    ['PATCH', '/v2/a/manifests/latest', 'GET, HEAD, PUT, DELETE'],
    ['OPTIONS', '/v2/a/manifests/latest', 'GET, HEAD, PUT, DELETE'],
    ['PUT', `/v2/a/blobs/${D}`, 'GET, HEAD, DELETE'],
    ['POST', `/v2/a/blobs/${D}`, 'GET, HEAD, DELETE'],
    ['PATCH', `/v2/a/blobs/${D}`, 'GET, HEAD, DELETE'],
    ['GET', '/v2/a/blobs/uploads/', 'POST'],
    ['PUT', '/v2/a/blobs/uploads/', 'POST'],
    ['PATCH', '/v2/a/blobs/uploads', 'POST'],
    ['HEAD', `/v2/a/blobs/uploads/${UUID}`, 'GET, PATCH, PUT, DELETE'],
    ['POST', `/v2/a/blobs/uploads/${UUID}`, 'GET, PATCH, PUT, DELETE'],
    ['DELETE', '/v2/a/tags/list', 'GET, HEAD'],
    ['POST', '/v2/a/tags/list', 'GET, HEAD'],
    ['PUT', `/v2/a/referrers/${D}`, 'GET, HEAD'],
    ['DELETE', `/v2/a/referrers/${D}`, 'GET, HEAD'],
    ['POST', '/v2/namespaces/ns/connectors/c/a/manifests/latest', 'GET, HEAD, PUT, DELETE'],
  ];
  it.each(cases)('%s %s -> 405 allow: %s', (method, target, allow) => {
    const err = rejection(method, target);
    expect(err.status).toBe(405);
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.headers).toEqual({ allow });
  });
});

describe('parseRoute: rejected names, digests and tags', () => {
  const cases: [method: string, target: string, status: number, code: string][] = [
    // names
    ['GET', '/v2/Foo/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/team/App/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo-/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/-foo/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/_foo/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo..bar/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo___bar/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo.-bar/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo:5000/bar/manifests/latest', 400, 'NAME_INVALID'],
    ['GET', '/v2/foo=bar/tags/list', 400, 'NAME_INVALID'],
    ['GET', `/v2/a+b/blobs/${D}`, 400, 'NAME_INVALID'],
    ['POST', '/v2/Team/blobs/uploads/', 400, 'NAME_INVALID'],
    ['PATCH', `/v2/Team/blobs/uploads/${UUID}`, 400, 'NAME_INVALID'],
    ['GET', `/v2/Team/referrers/${D}`, 400, 'NAME_INVALID'],
    // digests
    ['GET', `/v2/a/blobs/sha256:${HEX64.slice(1)}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha256:${HEX64}0`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha256:${HEX64.toUpperCase()}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/SHA256:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha256_:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha256+:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', '/v2/a/blobs/sha256:', 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha512:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha256:${HEX64}:x`, 400, 'DIGEST_INVALID'],
    ['GET', '/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e', 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/blobs/sha-256:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', '/v2/a/blobs/', 400, 'DIGEST_INVALID'],
    ['DELETE', `/v2/a/blobs/sha256:${HEX64.slice(2)}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/manifests/sha256:${HEX64.slice(1)}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/manifests/sha256:${HEX64.toUpperCase()}`, 400, 'DIGEST_INVALID'],
    ['PUT', `/v2/a/manifests/SHA256:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/referrers/sha256:${HEX64.slice(1)}`, 400, 'DIGEST_INVALID'],
    ['GET', '/v2/a/referrers/latest', 400, 'DIGEST_INVALID'],
    // tags
    // No manifest has an invalid tag: reading one is 404 (as registries and the conformance suite say), pushing one 400.
    ['GET', '/v2/a/manifests/.hidden', 404, 'MANIFEST_UNKNOWN'],
    ['HEAD', '/v2/a/manifests/.INVALID_MANIFEST_NAME', 404, 'MANIFEST_UNKNOWN'],
    ['DELETE', '/v2/a/manifests/-dash', 404, 'MANIFEST_UNKNOWN'],
    ['PUT', '/v2/a/manifests/.hidden', 400, 'MANIFEST_INVALID'],
    ['GET', '/v2/a/manifests/-dash', 404, 'MANIFEST_UNKNOWN'],
    ['PUT', `/v2/a/manifests/${'t'.repeat(129)}`, 400, 'MANIFEST_INVALID'],
    ['GET', '/v2/a/manifests/a+b', 404, 'MANIFEST_UNKNOWN'],
    ['GET', '/v2/a/manifests/v=1', 404, 'MANIFEST_UNKNOWN'],
    ['PUT', '/v2/a/manifests/a~b', 400, 'MANIFEST_INVALID'],
    // upload session ids
    ['PATCH', '/v2/a/blobs/uploads/a:b', 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['PATCH', `/v2/a/blobs/uploads/${'u'.repeat(257)}`, 404, 'BLOB_UPLOAD_UNKNOWN'],
  ];
  it.each(cases)('%s %s -> %i %s', (method, target, status, code) => {
    const err = rejection(method, target);
    expect([err.status, err.code]).toEqual([status, code]);
  });

  it('names the invalid repository in the error detail', () => {
    const err = rejection('GET', '/v2/team/App/manifests/latest');
    expect(err.detail).toEqual({ name: 'team/App' });
    expect(err.message).toBe('invalid repository name "team/App"');
  });

  it('explains an invalid digest and an invalid tag', () => {
    expect(rejection('GET', `/v2/a/blobs/sha256:${HEX64.toUpperCase()}`).message).toBe(`invalid sha256 digest "sha256:${HEX64.toUpperCase()}"`);
    expect(rejection('PUT', '/v2/a/manifests/.hidden').message).toBe('invalid tag ".hidden"');
    expect(rejection('GET', '/v2/a/manifests/.hidden').message).toBe('manifest unknown: invalid tag ".hidden"');
  });
});

describe('parseRoute: targets that are not Distribution API paths -> 404', () => {
  const targets = [
    '/',
    '',
    '/v1/',
    '/V2/',
    '/v2foo',
    '/v2foo/a/manifests/latest',
    '/healthz',
    '//v2/',
    'http://proxy:5000/v2/',
    '/v2/..',
    '/v2/.',
    '/v2/../v2/a/manifests/latest',
    '/v2/a/../b/manifests/latest',
    '/v2/./a/manifests/latest',
    '/v2/a/./manifests/latest',
    '/v2/a/manifests/..',
    '/v2/a/manifests/.',
    `/v2/a/blobs/..`,
    '/v2//',
    '/v2//a/manifests/latest',
    '/v2/a//manifests/latest',
    '/v2/a/manifests//latest',
    '/v2/a/b//tags/list',
    '/v2/%2e%2e/a/manifests/latest',
    '/v2/a/%2e%2e/manifests/latest',
    '/v2/a%2Fb/manifests/latest',
    '/v2/a%2fb/manifests/latest',
    '/v2/a/manifests/%6Catest',
    `/v2/a/blobs/sha256%3A${HEX64}`,
    '/v2/a/blobs/uploads/abc%2Fdef',
    '/v2/a\\b/manifests/latest',
    '/v2\\a/manifests/latest',
    '/v2/a/manifests/latest\\',
    '/v2/a/manifests/x y',
    '/v2/a/manifests/x#y',
    '/v2/a/manifests/x;y',
    '/v2/a',
    '/v2/a/b',
    '/v2/a/manifests',
    '/v2/a/tags',
    '/v2/a/tags/list/',
    '/v2/a/manifests/latest/',
    `/v2/a/blobs/${D}/`,
    '/v2/_catalog/',
    '/v2/a/referrers',
  ];
  it.each(targets)('GET %s', (target) => {
    const err = rejection('GET', target);
    expect([err.status, err.code]).toEqual([404, 'UNSUPPORTED']);
  });

  it('rejects path tricks even with an allowed method on every endpoint kind', () => {
    for (const [method, target] of [
      ['POST', '/v2/a/../b/blobs/uploads/'],
      ['PATCH', `/v2/a/blobs/uploads/..`],
      ['PUT', '/v2/a%2Fb/manifests/latest'],
      ['DELETE', `/v2/a//blobs/${D}`],
    ] as const) {
      const err = rejection(method, target);
      expect([method, target, err.status, err.code]).toEqual([method, target, 404, 'UNSUPPORTED']);
    }
  });
});

describe('parseRoute: query parameters', () => {
  const ok: [method: string, target: string, expected: Route][] = [
    [
      'PUT',
      `/v2/a/blobs/uploads/${UUID}?digest=${D}`,
      r({ endpoint: 'upload', repository: 'a', uploadId: UUID, tail: `/blobs/uploads/${UUID}`, query: `?digest=sha256%3A${HEX64}` }),
    ],
    [
      'PUT',
      `/v2/a/blobs/uploads/${UUID}?_state=xY%2Bz%3D%3D&digest=sha256%3A${HEX64}`,
      r({ endpoint: 'upload', repository: 'a', uploadId: UUID, tail: `/blobs/uploads/${UUID}`, query: `?_state=xY%2Bz%3D%3D&digest=sha256%3A${HEX64}` }),
    ],
    ['POST', `/v2/a/blobs/uploads/?digest=${D}`, r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads/', query: `?digest=sha256%3A${HEX64}` })],
    ['POST', `/v2/a/blobs/uploads?digest=${D512}`, r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads', query: `?digest=sha512%3A${HEX128}` })],
    [
      'POST',
      `/v2/a/blobs/uploads/?mount=${D}&from=library/other`,
      r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads/', query: `?mount=sha256%3A${HEX64}&from=library%2Fother`, mountFrom: 'library/other' }),
    ],
    [
      'POST',
      `/v2/a/blobs/uploads/?from=library%2Fother&mount=sha256%3A${HEX64}`,
      r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads/', query: `?from=library%2Fother&mount=sha256%3A${HEX64}`, mountFrom: 'library/other' }),
    ],
    // from= alone is not a mount
    ['POST', '/v2/a/blobs/uploads/?from=library/other', r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads/', query: '?from=library%2Fother' })],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}`, r({ endpoint: 'upload-start', repository: 'a', tail: '/blobs/uploads/', query: `?mount=sha256%3A${HEX64}` })],
    [
      'PUT',
      '/v2/a/manifests/v1?tag=v1&tag=latest&tag=1.0.0',
      r({ endpoint: 'manifest', repository: 'a', reference: 'v1', tail: '/manifests/v1', query: '?tag=v1&tag=latest&tag=1.0.0' }),
    ],
    ['PUT', `/v2/a/manifests/${D}?tag=v1`, r({ endpoint: 'manifest', repository: 'a', reference: D, tail: `/manifests/${D}`, query: '?tag=v1' })],
    // the query goes upstream re-encoded from what was parsed, never as the client's raw bytes
    ['GET', '/v2/a/tags/list?n=2&last=a%2Fb&x=%2B+y&&=&z', r({ endpoint: 'tags', repository: 'a', tail: '/tags/list', query: '?n=2&last=a%2Fb&x=%2B+y&=&z=' })],
    ['GET', '/v2/a/manifests/latest?', r({ endpoint: 'manifest', repository: 'a', reference: 'latest', tail: '/manifests/latest', query: '' })],
    [
      'GET',
      '/v2/a/manifests/latest?ns=docker.io&x=%2e%2e/..',
      // ns (containerd's mirror key) is taken out of the query: it chooses, it is never forwarded
      r({ endpoint: 'manifest', repository: 'a', reference: 'latest', tail: '/manifests/latest', query: '?x=..%2F..', ns: 'docker.io' }),
    ],
    ['GET', '/v2/a/manifests/latest??q=1?', r({ endpoint: 'manifest', repository: 'a', reference: 'latest', tail: '/manifests/latest', query: '?q=1%3F' })],
  ];
  it.each(ok)('%s %s', (method, target, expected) => {
    expect(parseRoute(method, target)).toEqual(expected);
  });

  const bad: [method: string, target: string, status: number, code: string][] = [
    ['PUT', `/v2/a/blobs/uploads/${UUID}?digest=sha256:${HEX64.toUpperCase()}`, 400, 'DIGEST_INVALID'],
    ['PUT', `/v2/a/blobs/uploads/${UUID}?_state=x&digest=sha256:${HEX64.slice(1)}`, 400, 'DIGEST_INVALID'],
    ['PUT', `/v2/a/blobs/uploads/${UUID}?digest=${D}&digest=md5`, 400, 'DIGEST_INVALID'],
    ['PUT', `/v2/a/blobs/uploads/${UUID}?digest=`, 400, 'DIGEST_INVALID'],
    ['POST', '/v2/a/blobs/uploads/?digest=nope', 400, 'DIGEST_INVALID'],
    ['POST', `/v2/a/blobs/uploads?digest=SHA256:${HEX64}`, 400, 'DIGEST_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=sha256:${HEX64.slice(1)}&from=b`, 400, 'DIGEST_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=Library/Other`, 400, 'NAME_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=`, 400, 'NAME_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=a//b`, 400, 'NAME_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=..%2Fsecret`, 400, 'NAME_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=${'a'.repeat(256)}`, 400, 'NAME_INVALID'],
    ['PUT', '/v2/a/manifests/v1?tag=.bad', 400, 'MANIFEST_INVALID'],
    ['PUT', `/v2/a/manifests/v1?tag=ok&tag=${'t'.repeat(129)}`, 400, 'MANIFEST_INVALID'],
    ['PUT', '/v2/a/manifests/v1?tag=', 400, 'MANIFEST_INVALID'],
    // a parameter the upstream reads once, given twice: which one it would read is not ours to guess
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&from=b&from=..%2F..%2Fc`, 400, 'NAME_INVALID'],
    ['POST', `/v2/a/blobs/uploads/?mount=${D}&mount=${D}&from=b`, 400, 'DIGEST_INVALID'],
    ['PUT', `/v2/a/blobs/uploads/${UUID}?digest=${D}&digest=${D}`, 400, 'DIGEST_INVALID'],
    ['GET', `/v2/a/manifests/v1?digest=${D}&digest=x`, 400, 'DIGEST_INVALID'],
    ['GET', '/v2/a/manifests/v1?ns=docker.io&ns=quay.io', 400, 'NAME_INVALID'],
    ['GET', '/v2/a/manifests/v1?ns=http://evil.example/', 400, 'NAME_INVALID'],
    ['GET', '/v2/a/manifests/v1?ns=', 400, 'NAME_INVALID'],
    ['GET', '/v2/a/manifests/v1?ns=http://evil.example/', 400, 'NAME_INVALID'],
    ['GET', '/v2/a/manifests/v1?ns=', 400, 'NAME_INVALID'],
  ];
  it.each(bad)('%s %s -> %i %s', (method, target, status, code) => {
    const err = rejection(method, target);
    expect([err.status, err.code]).toEqual([status, code]);
  });

  it('names the invalid mount source in the error detail', () => {
    const err = rejection('POST', `/v2/a/blobs/uploads/?mount=${D}&from=Library/Other`);
    expect(err.detail).toEqual({ name: 'Library/Other' });
  });
});
