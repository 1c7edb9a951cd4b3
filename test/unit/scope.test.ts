/** Token scopes: parsing, formatting, merging, and the scopes each Distribution request needs. */
import { describe, expect, it } from 'vitest';
import { parseRoute } from '../../src/distribution/route.ts';
import { formatScope, normalizeScopes, parseScope, parseScopes, type Scope, scopesFor } from '../../src/distribution/scope.ts';

const D = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UUID = '3f1c2b7a-6d2e-4e8f-9a0b-1c2d3e4f5a6b';

describe('parseScope', () => {
  const valid: [input: string, expected: Scope][] = [
    ['repository:library/ubuntu:pull', { type: 'repository', name: 'library/ubuntu', actions: ['pull'] }],
    ['repository:foo:pull,push', { type: 'repository', name: 'foo', actions: ['pull', 'push'] }],
    ['repository:foo:push,pull', { type: 'repository', name: 'foo', actions: ['push', 'pull'] }],
    ['repository:foo:delete', { type: 'repository', name: 'foo', actions: ['delete'] }],
    ['repository:foo:*', { type: 'repository', name: 'foo', actions: ['*'] }],
    ['registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    ['repository:localhost:5000/foo:pull', { type: 'repository', name: 'localhost:5000/foo', actions: ['pull'] }],
    ['repository:reg.example.com:443/a/b/c:pull,push', { type: 'repository', name: 'reg.example.com:443/a/b/c', actions: ['pull', 'push'] }],
    ['repository(plugin):foo:pull', { type: 'repository(plugin)', name: 'foo', actions: ['pull'] }],
    ['repository:foo:pull,,push', { type: 'repository', name: 'foo', actions: ['pull', 'push'] }],
  ];
  it.each(valid)('%s', (input, expected) => {
    expect(parseScope(input)).toEqual(expected);
  });

  const invalid: [what: string, input: string][] = [
    ['empty', ''],
    ['no colon', 'repository'],
    ['one colon', 'repository:foo'],
    ['empty type', ':foo:pull'],
    ['empty actions', 'repository:foo:'],
    ['only commas as actions', 'repository:foo:,'],
    ['empty name', 'repository::pull'],
    ['only colons', '::'],
  ];
  it.each(invalid)('undefined for %s (%j)', (_what, input) => {
    expect(parseScope(input)).toBeUndefined();
  });
});

describe('parseScopes', () => {
  const cases: [what: string, input: string | undefined, expected: Scope[]][] = [
    ['undefined', undefined, []],
    ['empty', '', []],
    ['one scope', 'repository:foo:pull', [{ type: 'repository', name: 'foo', actions: ['pull'] }]],
    [
      'two scopes separated by a space',
      'repository:x/y:pull,push repository:p/q:pull',
      [
        { type: 'repository', name: 'x/y', actions: ['pull', 'push'] },
        { type: 'repository', name: 'p/q', actions: ['pull'] },
      ],
    ],
    [
      'extra spaces',
      '  repository:a:pull   registry:catalog:*  ',
      [
        { type: 'repository', name: 'a', actions: ['pull'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ],
    ],
    ['invalid scopes are dropped, valid ones kept', 'garbage repository:a:pull repository:b', [{ type: 'repository', name: 'a', actions: ['pull'] }]],
    ['a name with a registry port', 'repository:localhost:5000/foo:pull', [{ type: 'repository', name: 'localhost:5000/foo', actions: ['pull'] }]],
  ];
  it.each(cases)('%s', (_what, input, expected) => {
    expect(parseScopes(input)).toEqual(expected);
  });
});

describe('formatScope', () => {
  const cases: [scope: Scope, expected: string][] = [
    [{ type: 'repository', name: 'foo', actions: ['pull'] }, 'repository:foo:pull'],
    [{ type: 'repository', name: 'foo', actions: ['push', 'pull'] }, 'repository:foo:pull,push'],
    [{ type: 'repository', name: 'foo', actions: ['pull', 'push', 'pull', 'push'] }, 'repository:foo:pull,push'],
    [{ type: 'repository', name: 'foo', actions: ['push', 'delete', 'pull'] }, 'repository:foo:delete,pull,push'],
    [{ type: 'registry', name: 'catalog', actions: ['*'] }, 'registry:catalog:*'],
    [{ type: 'repository', name: 'localhost:5000/foo', actions: ['pull'] }, 'repository:localhost:5000/foo:pull'],
  ];
  it.each(cases)('%j → %s', (scope, expected) => {
    expect(formatScope(scope)).toBe(expected);
  });

  it('round-trips through parseScope', () => {
    for (const s of ['repository:localhost:5000/foo:pull,push', 'registry:catalog:*', 'repository:a/b:delete']) {
      expect(formatScope(parseScope(s)!)).toBe(s);
    }
  });

  it('does not reorder the caller’s actions array', () => {
    const scope: Scope = { type: 'repository', name: 'foo', actions: ['push', 'pull'] };
    formatScope(scope);
    expect(scope.actions).toEqual(['push', 'pull']);
  });
});

describe('normalizeScopes', () => {
  const s = (text: string): Scope => parseScope(text)!;
  const cases: [what: string, input: Scope[], expected: string[]][] = [
    ['nothing', [], []],
    ['one', [s('repository:foo:pull')], ['repository:foo:pull']],
    ['actions sorted', [s('repository:foo:push,pull')], ['repository:foo:pull,push']],
    ['duplicate actions once', [s('repository:foo:pull,pull,push,pull')], ['repository:foo:pull,push']],
    ['same resource merged', [s('repository:foo:pull'), s('repository:foo:push')], ['repository:foo:pull,push']],
    [
      'same resource merged across several entries',
      [s('repository:foo:push'), s('repository:bar:pull'), s('repository:foo:delete'), s('repository:foo:pull')],
      ['repository:bar:pull', 'repository:foo:delete,pull,push'],
    ],
    ['same name, other type: not merged', [s('repository:catalog:pull'), s('registry:catalog:*')], ['registry:catalog:*', 'repository:catalog:pull']],
    ['output sorted by resource', [s('repository:z:pull'), s('repository:a:pull'), s('repository:m:pull')], ['repository:a:pull', 'repository:m:pull', 'repository:z:pull']],
    [
      'names with a port are their own resource',
      [s('repository:localhost:5000/foo:pull'), s('repository:foo:push')],
      ['repository:foo:push', 'repository:localhost:5000/foo:pull'],
    ],
  ];
  it.each(cases)('%s', (_what, input, expected) => {
    expect(normalizeScopes(input)).toEqual(expected);
  });

  it('is order-independent: push,pull == pull,push, and the order of scopes does not matter', () => {
    const a = normalizeScopes(parseScopes('repository:foo:push,pull repository:bar:pull'));
    const b = normalizeScopes(parseScopes('repository:bar:pull repository:foo:pull,push'));
    const c = normalizeScopes(parseScopes('repository:foo:pull repository:bar:pull repository:foo:push'));
    expect(a).toEqual(['repository:bar:pull', 'repository:foo:pull,push']);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('does not modify its input', () => {
    const input = [s('repository:foo:pull'), s('repository:foo:push')];
    const copy = structuredClone(input);
    normalizeScopes(input);
    expect(input).toEqual(copy);
  });
});

describe('scopesFor', () => {
  /** Scopes for a request as the proxy computes them, formatted, in the order scopesFor returns them. */
  function scopes(method: string, target: string, repository?: string): string[] {
    const route = parseRoute(method, target);
    return scopesFor(method, route, repository ?? route.repository, route.mountFrom).map(formatScope);
  }

  const cases: [method: string, target: string, expected: string[]][] = [
    // base and catalog
    ['GET', '/v2/', []],
    ['HEAD', '/v2/', []],
    ['GET', '/v2', []],
    ['GET', '/v2/_catalog', ['registry:catalog:*']],
    ['HEAD', '/v2/_catalog', ['registry:catalog:*']],
    ['GET', '/v2/_catalog?n=10&last=a', ['registry:catalog:*']],
    // reads: pull
    ['GET', '/v2/library/ubuntu/manifests/latest', ['repository:library/ubuntu:pull']],
    ['HEAD', '/v2/library/ubuntu/manifests/latest', ['repository:library/ubuntu:pull']],
    ['GET', `/v2/library/ubuntu/manifests/${D}`, ['repository:library/ubuntu:pull']],
    ['GET', `/v2/foo/blobs/${D}`, ['repository:foo:pull']],
    ['HEAD', `/v2/foo/blobs/${D}`, ['repository:foo:pull']],
    ['GET', '/v2/foo/tags/list', ['repository:foo:pull']],
    ['HEAD', '/v2/foo/tags/list', ['repository:foo:pull']],
    ['GET', `/v2/foo/referrers/${D}`, ['repository:foo:pull']],
    ['HEAD', `/v2/foo/referrers/${D}`, ['repository:foo:pull']],
    // writes: pull,push
    ['PUT', '/v2/foo/manifests/v1', ['repository:foo:pull,push']],
    ['PUT', `/v2/foo/manifests/${D}?tag=a&tag=b`, ['repository:foo:pull,push']],
    ['POST', '/v2/foo/blobs/uploads/', ['repository:foo:pull,push']],
    ['POST', '/v2/foo/blobs/uploads', ['repository:foo:pull,push']],
    ['POST', `/v2/foo/blobs/uploads/?digest=${D}`, ['repository:foo:pull,push']],
    ['GET', `/v2/foo/blobs/uploads/${UUID}`, ['repository:foo:pull,push']],
    ['PATCH', `/v2/foo/blobs/uploads/${UUID}`, ['repository:foo:pull,push']],
    ['PUT', `/v2/foo/blobs/uploads/${UUID}?digest=${D}`, ['repository:foo:pull,push']],
    // cancelling an upload is an upload operation, not a delete
    ['DELETE', `/v2/foo/blobs/uploads/${UUID}`, ['repository:foo:pull,push']],
    // deletes: delete
    ['DELETE', '/v2/foo/manifests/v1', ['repository:foo:delete']],
    ['DELETE', `/v2/foo/manifests/${D}`, ['repository:foo:delete']],
    ['DELETE', `/v2/foo/blobs/${D}`, ['repository:foo:delete']],
    // cross-repository mount: pull on the source as well
    ['POST', `/v2/foo/blobs/uploads/?mount=${D}&from=library/bar`, ['repository:foo:pull,push', 'repository:library/bar:pull']],
    ['POST', `/v2/foo/blobs/uploads/?from=library/bar&mount=${D}`, ['repository:foo:pull,push', 'repository:library/bar:pull']],
    // ... but not when the source is the target itself
    ['POST', `/v2/foo/blobs/uploads/?mount=${D}&from=foo`, ['repository:foo:pull,push']],
    // `from` without `mount` is not a mount
    ['POST', '/v2/foo/blobs/uploads/?from=library/bar', ['repository:foo:pull,push']],
    // a connector path prefix is not part of the repository
    ['GET', '/v2/namespaces/ns/connectors/hub/library/ubuntu/manifests/latest', ['repository:library/ubuntu:pull']],
    ['GET', '/v2/namespaces/ns/connectors/hub/_catalog', ['registry:catalog:*']],
    ['GET', '/v2/namespaces/ns/connectors/hub/', []],
  ];
  it.each(cases)('%s %s', (method, target, expected) => {
    expect(scopes(method, target)).toEqual(expected);
  });

  it('uses the repository name as the upstream knows it, not as the client sent it', () => {
    expect(scopes('GET', '/v2/ubuntu/manifests/latest', 'library/ubuntu')).toEqual(['repository:library/ubuntu:pull']);
    expect(scopes('PUT', '/v2/ubuntu/manifests/latest', 'mirror/ubuntu')).toEqual(['repository:mirror/ubuntu:pull,push']);
    expect(scopes('DELETE', `/v2/ubuntu/blobs/${D}`, 'mirror/ubuntu')).toEqual(['repository:mirror/ubuntu:delete']);
  });

  it('compares the mount source with the upstream repository name', () => {
    const route = parseRoute('POST', `/v2/foo/blobs/uploads/?mount=${D}&from=up/foo`);
    expect(scopesFor('POST', route, 'up/foo', 'up/foo').map(formatScope)).toEqual(['repository:up/foo:pull,push']);
    expect(scopesFor('POST', route, 'up/foo', 'up/bar').map(formatScope)).toEqual(['repository:up/foo:pull,push', 'repository:up/bar:pull']);
  });

  it('needs nothing on a repository endpoint without a repository', () => {
    expect(scopesFor('GET', parseRoute('GET', '/v2/foo/manifests/latest'), undefined, undefined)).toEqual([]);
  });

  it('returns exact Scope objects', () => {
    const route = parseRoute('POST', `/v2/foo/blobs/uploads/?mount=${D}&from=bar`);
    expect(scopesFor('POST', route, 'foo', 'bar')).toEqual([
      { type: 'repository', name: 'foo', actions: ['pull', 'push'] },
      { type: 'repository', name: 'bar', actions: ['pull'] },
    ]);
  });

  it('normalises a mount to the same scope set whatever the parameter order', () => {
    const a = parseRoute('POST', `/v2/foo/blobs/uploads/?mount=${D}&from=bar`);
    const b = parseRoute('POST', `/v2/foo/blobs/uploads/?from=bar&mount=${D}`);
    expect(normalizeScopes(scopesFor('POST', a, 'foo', a.mountFrom))).toEqual(['repository:bar:pull', 'repository:foo:pull,push']);
    expect(normalizeScopes(scopesFor('POST', b, 'foo', b.mountFrom))).toEqual(['repository:bar:pull', 'repository:foo:pull,push']);
  });
});
