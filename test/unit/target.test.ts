/** Where a routed request goes upstream: Docker Hub's library/, path-mode mount sources, scopes and traffic classes. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseRoute } from '../../src/distribution/route.ts';
import { targetOf, upstreamRequest } from '../../src/proxy/target.ts';
import type { UpstreamClient } from '../../src/upstream/client.ts';
import { connectorFor } from '../helpers/connectors.ts';

const D = 'sha256:' + 'a'.repeat(64);
const D_ENC = encodeURIComponent(D);

function client(address: string, name = 'c'): UpstreamClient {
  return { connector: connectorFor(address, { namespace: 'ns', name }), key: `ns/${name}` } as UpstreamClient;
}

const target = (method: string, url: string, c = client('https://r.example.com')) => targetOf(method, parseRoute(method, url), c);

describe('targetOf', () => {
  it('Docker Hub: one-component names under library/, in the path and in the scope; others as they are', () => {
    const hub = client('https://docker.io');
    expect(target('GET', '/v2/ubuntu/manifests/22.04', hub)).toMatchObject({
      path: '/v2/library/ubuntu/manifests/22.04',
      scopes: ['repository:library/ubuntu:pull'],
      repository: 'library/ubuntu',
    });
    expect(target('GET', '/v2/team/app/manifests/1', hub)).toMatchObject({ path: '/v2/team/app/manifests/1', scopes: ['repository:team/app:pull'] });
    expect(target('GET', '/v2/ubuntu/manifests/1', client('https://r.example.com'))).toMatchObject({ path: '/v2/ubuntu/manifests/1' });
  });

  it('a Docker Hub mount source gets library/ too, in the query and in the scope', () => {
    const t = target('POST', `/v2/team/app/blobs/uploads/?mount=${D}&from=busybox`, client('https://docker.io'));
    expect(t.path).toBe(`/v2/team/app/blobs/uploads/?mount=${D_ENC}&from=library%2Fbusybox`);
    expect(t.scopes).toEqual(['repository:library/busybox:pull', 'repository:team/app:pull,push']);
  });

  it("path mode: the same connector's prefix comes off the mount source; another connector's makes it a plain upload", () => {
    const c = client('https://r.example.com', 'c');
    const same = target('POST', `/v2/namespaces/ns/connectors/c/team/dst/blobs/uploads/?mount=${D}&from=namespaces/ns/connectors/c/team/src`, c);
    expect(same).toMatchObject({ path: `/v2/team/dst/blobs/uploads/?mount=${D_ENC}&from=team%2Fsrc`, prefix: '/namespaces/ns/connectors/c' });
    expect(same.scopes).toEqual(['repository:team/dst:pull,push', 'repository:team/src:pull']);
    const other = target('POST', `/v2/namespaces/ns/connectors/c/team/dst/blobs/uploads/?mount=${D}&from=namespaces/ns/connectors/other/team/src`, c);
    expect(other).toMatchObject({ path: '/v2/team/dst/blobs/uploads/', scopes: ['repository:team/dst:pull,push'] });
    // without a path prefix a source that looks prefixed is just a repository name
    expect(target('POST', `/v2/team/dst/blobs/uploads/?mount=${D}&from=namespaces/ns/connectors/c/x`, c).path).toContain('from=namespaces%2Fns%2Fconnectors%2Fc%2Fx');
  });

  // Blob GETs and streamed bodies are bulk; everything else is small.
  const traffic: [method: string, url: string, expected: string, body: () => Readable | Buffer | null][] = [
    ['GET', `/v2/a/blobs/${D}`, 'bulk', () => null],
    ['HEAD', `/v2/a/blobs/${D}`, 'small', () => null],
    ['PATCH', '/v2/a/blobs/uploads/u', 'bulk', () => Readable.from([])],
    ['PUT', '/v2/a/blobs/uploads/u', 'small', () => null],
    ['PUT', '/v2/a/manifests/v1', 'small', () => Buffer.from('{}')],
    ['GET', '/v2/a/tags/list', 'small', () => null],
  ];
  it.each(traffic)('traffic: %s %s is %s', (method, url, expected, body) => {
    const req = { method, rawHeaders: [] } as unknown as IncomingMessage;
    expect(upstreamRequest(req, target(method, url), body(), new AbortController().signal).traffic).toBe(expected);
  });
});
