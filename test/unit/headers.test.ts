/** Header rules: what goes upstream, what comes back, and how upstream URLs are rewritten. */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, rewriteLink, rewriteUrl, type RewriteContext, upstreamRequestHeaders } from '../../src/proxy/headers.ts';

const D = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UP = 'https://registry.example.com';
const CLIENT = 'http://proxy.local:5000';
const PREFIX = '/namespaces/ns/connectors/c';
const ctx: RewriteContext = { upstreamOrigin: UP, clientOrigin: CLIENT, prefix: '' };
const pctx: RewriteContext = { upstreamOrigin: UP, clientOrigin: CLIENT, prefix: PREFIX };

describe('upstreamRequestHeaders', () => {
  it('keeps end-to-end headers exactly, in order, with duplicates and original name case', () => {
    const raw = [
      'Host',
      'proxy.local:5000',
      'User-Agent',
      'containerd/v1.7.13',
      'Accept',
      'application/vnd.oci.image.index.v1+json',
      'Accept',
      'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.9, */*;q=0.1',
      'accept',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'Authorization',
      'Bearer client-token',
      'Content-Length',
      '1024',
      'Content-Type',
      'application/octet-stream',
      'Content-Range',
      '0-1023',
      'Docker-Content-Digest',
      D,
      'OCI-Subject',
      D,
      'Range',
      'bytes=0-99',
      'If-None-Match',
      `"${D}"`,
      'X-Custom',
      'a',
      'X-Custom',
      'b',
      'Accept-Encoding',
      'gzip',
      'X-Connection-Id',
      '7',
    ];
    expect(upstreamRequestHeaders(raw)).toEqual([
      'User-Agent',
      'containerd/v1.7.13',
      'Accept',
      'application/vnd.oci.image.index.v1+json',
      'Accept',
      'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.9, */*;q=0.1',
      'accept',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'Content-Length',
      '1024',
      'Content-Type',
      'application/octet-stream',
      'Content-Range',
      '0-1023',
      'Docker-Content-Digest',
      D,
      'OCI-Subject',
      D,
      'Range',
      'bytes=0-99',
      'If-None-Match',
      `"${D}"`,
      'X-Custom',
      'a',
      'X-Custom',
      'b',
      'Accept-Encoding',
      'gzip',
      'X-Connection-Id',
      '7',
    ]);
  });

  const dropped: [name: string, value: string][] = [
    ['Host', 'proxy.local:5000'],
    ['host', 'proxy.local:5000'],
    ['Connection', 'keep-alive'],
    ['Keep-Alive', 'timeout=5'],
    ['Proxy-Authorization', 'Basic eDp5'],
    ['Proxy-Connection', 'keep-alive'],
    ['TE', 'trailers'],
    ['Trailer', 'X-Checksum'],
    ['Transfer-Encoding', 'chunked'],
    ['Upgrade', 'h2c'],
    ['Expect', '100-continue'],
    ['Authorization', 'Basic dXNlcjp0b2tlbg=='],
    ['authorization', 'Bearer sa-token'],
    ['AUTHORIZATION', 'Bearer sa-token'],
    ['Cookie', 'session=1'],
    ['Forwarded', 'for=192.0.2.1;proto=https;host=evil.example'],
    ['X-Forwarded-For', '192.0.2.1'],
    ['X-Forwarded-Host', 'evil.example'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Port', '443'],
    ['X-Forwarded-Prefix', '/evil'],
    ['X-Forwarded-Server', 'evil.example'],
    ['X-Forwarded-Ssl', 'on'],
    ['x-forwarded-scheme', 'https'],
    ['X-Real-IP', '192.0.2.1'],
  ];
  it.each(dropped)('drops %s', (name, value) => {
    expect(upstreamRequestHeaders(['Accept', 'application/json', name, value, 'X-Keep', '1'])).toEqual(['Accept', 'application/json', 'X-Keep', '1']);
  });

  it('drops headers named in Connection, whatever their case, and across several Connection headers', () => {
    const raw = [
      'Connection',
      'keep-alive, X-Hop-One ,x-hop-two',
      'connection',
      'X-Hop-Three',
      'x-hop-one',
      '1',
      'X-HOP-TWO',
      '2',
      'X-Hop-Three',
      '3',
      'X-Hop-Four',
      '4',
      'Accept',
      '*/*',
    ];
    expect(upstreamRequestHeaders(raw)).toEqual(['X-Hop-Four', '4', 'Accept', '*/*']);
  });

  it('also drops a header listed in a Connection header that comes after it', () => {
    expect(upstreamRequestHeaders(['X-Late', '1', 'Accept', '*/*', 'Connection', 'x-late'])).toEqual(['Accept', '*/*']);
  });

  it('returns an empty list for no headers and does not modify its input', () => {
    expect(upstreamRequestHeaders([])).toEqual([]);
    const raw = ['Authorization', 'x', 'Accept', 'y'];
    upstreamRequestHeaders(raw);
    expect(raw).toEqual(['Authorization', 'x', 'Accept', 'y']);
  });
});

describe('rewriteUrl', () => {
  const cases: [name: string, url: string, c: RewriteContext, expected: string][] = [
    [
      'absolute upload location with _state (%2B, %3D) and digest',
      `${UP}/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%2F%3D%3D&digest=sha256%3Ae3b0`,
      ctx,
      `${CLIENT}/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%2F%3D%3D&digest=sha256%3Ae3b0`,
    ],
    ['raw = and + and / in the query', `${UP}/v2/a/blobs/uploads/u?_state=a+b/c==&x=`, ctx, `${CLIENT}/v2/a/blobs/uploads/u?_state=a+b/c==&x=`],
    ['percent-encoding in the path kept', `${UP}/v2/a/blobs/uploads/u%2Bv?x=%7E`, ctx, `${CLIENT}/v2/a/blobs/uploads/u%2Bv?x=%7E`],
    ['fragment kept', `${UP}/v2/a/tags/list?n=1#frag`, ctx, `${CLIENT}/v2/a/tags/list?n=1#frag`],
    ['explicit default https port', `https://registry.example.com:443/v2/a/blobs/uploads/u?x=1`, ctx, `${CLIENT}/v2/a/blobs/uploads/u?x=1`],
    ['upper-case scheme and host', `HTTPS://REGISTRY.EXAMPLE.COM/v2/a/blobs/uploads/u`, ctx, `${CLIENT}/v2/a/blobs/uploads/u`],
    ['origin only', UP, ctx, `${CLIENT}/`],
    ['origin with slash', `${UP}/`, ctx, `${CLIENT}/`],
    ['origin with query only', `${UP}?x=1`, ctx, `${CLIENT}/?x=1`],
    ['userinfo dropped with the authority', `https://user@registry.example.com/v2/a`, ctx, `${CLIENT}/v2/a`],
    // relative stays relative
    ['absolute-path reference', '/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D', ctx, '/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D'],
    ['path-relative reference', '3f1c?_state=AbC%2B', ctx, '3f1c?_state=AbC%2B'],
    ['relative with a URL in its query', '/v2/a/blobs/uploads/u?next=https://registry.example.com/x', ctx, '/v2/a/blobs/uploads/u?next=https://registry.example.com/x'],
    ['empty', '', ctx, ''],
    // other hosts unchanged
    [
      'other host (CDN redirect)',
      'https://cdn.example.net/blobs/x?X-Amz-Signature=ab%2Bcd&X-Amz-Expires=60',
      ctx,
      'https://cdn.example.net/blobs/x?X-Amz-Signature=ab%2Bcd&X-Amz-Expires=60',
    ],
    ['same host, other scheme', 'http://registry.example.com/v2/a', ctx, 'http://registry.example.com/v2/a'],
    ['same host, other port', 'https://registry.example.com:5000/v2/a', ctx, 'https://registry.example.com:5000/v2/a'],
    ['sub-domain of the upstream', 'https://auth.registry.example.com/token', ctx, 'https://auth.registry.example.com/token'],
    ['host that merely starts like the upstream', 'https://registry.example.com.evil.net/v2/a', ctx, 'https://registry.example.com.evil.net/v2/a'],
    ['not a URL', 'not a url://x', ctx, 'not a url://x'],
    // plain-http upstreams and default ports
    ['http upstream, explicit :80', 'http://h:80/v2/a/blobs/uploads/u?_state=x%2B', { ...ctx, upstreamOrigin: 'http://h' }, `${CLIENT}/v2/a/blobs/uploads/u?_state=x%2B`],
    ['http upstream, no port', 'http://h/v2/a/blobs/uploads/u?_state=x%2B', { ...ctx, upstreamOrigin: 'http://h' }, `${CLIENT}/v2/a/blobs/uploads/u?_state=x%2B`],
    ['http upstream, other port', 'http://h:8080/v2/a', { ...ctx, upstreamOrigin: 'http://h' }, 'http://h:8080/v2/a'],
    ['http upstream, https URL', 'https://h/v2/a', { ...ctx, upstreamOrigin: 'http://h' }, 'https://h/v2/a'],
    ['upstream with port', 'http://10.0.0.5:5000/v2/a/blobs/uploads/u', { ...ctx, upstreamOrigin: 'http://10.0.0.5:5000' }, `${CLIENT}/v2/a/blobs/uploads/u`],
    ['IPv6 upstream', 'http://[::1]:5000/v2/a/blobs/uploads/u?x=1', { ...ctx, upstreamOrigin: 'http://[::1]:5000' }, `${CLIENT}/v2/a/blobs/uploads/u?x=1`],
    ['client origin with default port kept as given', `${UP}/v2/a`, { ...ctx, clientOrigin: 'http://proxy' }, 'http://proxy/v2/a'],
    // a network-path reference resolves against the upstream's scheme: it names the upstream
    ['network-path reference to the upstream', '//registry.example.com/v2/a/blobs/uploads/u?_state=x%2B', ctx, `${CLIENT}/v2/a/blobs/uploads/u?_state=x%2B`],
    ['network-path reference to another host', '//cdn.example.net/x', ctx, '//cdn.example.net/x'],
    // path prefix of the connector selector
    [
      'prefix: absolute upload location',
      `${UP}/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D`,
      pctx,
      `${CLIENT}/v2${PREFIX}/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D`,
    ],
    ['prefix: relative location', '/v2/team/app/blobs/uploads/3f1c?_state=x%2B', pctx, `/v2${PREFIX}/team/app/blobs/uploads/3f1c?_state=x%2B`],
    ['prefix: relative tags link', '/v2/team/app/tags/list?n=2&last=b', pctx, `/v2${PREFIX}/team/app/tags/list?n=2&last=b`],
    ['prefix: /v2/', '/v2/', pctx, `/v2${PREFIX}/`],
    ['prefix: /v2', '/v2', pctx, `/v2${PREFIX}`],
    ['prefix: absolute /v2', `${UP}/v2`, pctx, `${CLIENT}/v2${PREFIX}`],
    ['prefix: not under /v2', '/token?scope=x', pctx, '/token?scope=x'],
    ['prefix: /v2x is not /v2', '/v2x/a', pctx, '/v2x/a'],
    ['prefix: other host unchanged', 'https://cdn.example.net/v2/a', pctx, 'https://cdn.example.net/v2/a'],
    ['prefix: path-relative unchanged', '3f1c?x=1', pctx, '3f1c?x=1'],
  ];
  it.each(cases)('%s', (_name, url, c, expected) => {
    expect(rewriteUrl(url, c)).toBe(expected);
  });
});

describe('rewriteLink', () => {
  const cases: [name: string, value: string, c: RewriteContext, expected: string][] = [
    ['relative next link', '</v2/team/app/tags/list?n=2&last=b>; rel="next"', ctx, '</v2/team/app/tags/list?n=2&last=b>; rel="next"'],
    ['absolute catalog link', `<${UP}/v2/_catalog?n=2&last=team%2Fapp>; rel="next"`, ctx, `<${CLIENT}/v2/_catalog?n=2&last=team%2Fapp>; rel="next"`],
    [
      'several links and parameters',
      `<${UP}/v2/a/tags/list?n=1&last=x%2By>; rel="next"; title="more, please", <https://docs.example.net/api>; rel="help", </v2/a/tags/list?n=1>; rel=first;anchor="#x"`,
      ctx,
      `<${CLIENT}/v2/a/tags/list?n=1&last=x%2By>; rel="next"; title="more, please", <https://docs.example.net/api>; rel="help", </v2/a/tags/list?n=1>; rel=first;anchor="#x"`,
    ],
    [
      'several links with a prefix',
      `<${UP}/v2/a/tags/list?n=1&last=b>; rel="next", </v2/a/tags/list?n=1>; rel="first"`,
      pctx,
      `<${CLIENT}/v2${PREFIX}/a/tags/list?n=1&last=b>; rel="next", </v2${PREFIX}/a/tags/list?n=1>; rel="first"`,
    ],
    ['no link', 'rel="next"', ctx, 'rel="next"'],
    ['empty', '', ctx, ''],
  ];
  it.each(cases)('%s', (_name, value, c, expected) => {
    expect(rewriteLink(value, c)).toBe(expected);
  });
});

describe('clientResponseHeaders', () => {
  it('keeps end-to-end headers, drops hop-by-hop ones and rewrites Location and Link', () => {
    const headers: IncomingHttpHeaders = {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'content-length': '1234',
      'docker-content-digest': D,
      'oci-subject': D,
      'docker-distribution-api-version': 'registry/2.0',
      'content-range': 'bytes 0-99/1000',
      range: '0-1023',
      'docker-upload-uuid': '3f1c',
      etag: `"${D}"`,
      'ratelimit-limit': '100;w=21600',
      'ratelimit-remaining': '99;w=21600',
      'retry-after': '30',
      location: `${UP}/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D`,
      link: `<${UP}/v2/team/app/tags/list?n=2&last=b>; rel="next"`,
      connection: 'keep-alive, X-Hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic realm="x"',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'set-cookie': ['session=1', 'other=2'],
      vary: 'Accept',
    };
    expect(clientResponseHeaders(headers, ctx)).toEqual({
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'content-length': '1234',
      'docker-content-digest': D,
      'oci-subject': D,
      'docker-distribution-api-version': 'registry/2.0',
      'content-range': 'bytes 0-99/1000',
      range: '0-1023',
      'docker-upload-uuid': '3f1c',
      etag: `"${D}"`,
      'ratelimit-limit': '100;w=21600',
      'ratelimit-remaining': '99;w=21600',
      'retry-after': '30',
      location: `${CLIENT}/v2/team/app/blobs/uploads/3f1c?_state=AbC%2BdEf%3D%3D`,
      link: `<${CLIENT}/v2/team/app/tags/list?n=2&last=b>; rel="next"`,
      vary: 'Accept',
    });
  });

  const locations: [name: string, location: string, c: RewriteContext, expected: string][] = [
    ['relative stays relative', '/v2/a/blobs/uploads/u?_state=x%2B%3D', ctx, '/v2/a/blobs/uploads/u?_state=x%2B%3D'],
    ['relative gets the prefix', '/v2/a/blobs/uploads/u?_state=x%2B%3D', pctx, `/v2${PREFIX}/a/blobs/uploads/u?_state=x%2B%3D`],
    ['absolute gets client origin and prefix', `${UP}/v2/a/blobs/${D}`, pctx, `${CLIENT}/v2${PREFIX}/a/blobs/${D}`],
    ['redirect to another host unchanged', 'https://cdn.example.net/x?sig=a%2Bb', pctx, 'https://cdn.example.net/x?sig=a%2Bb'],
  ];
  it.each(locations)('Location: %s', (_name, location, c, expected) => {
    expect(clientResponseHeaders({ location }, c)).toEqual({ location: expected });
  });

  it('rewrites every Link value when the header arrives as a list', () => {
    const out = clientResponseHeaders({ link: [`<${UP}/v2/a/tags/list?n=1&last=x>; rel="next"`, '</v2/a/tags/list?n=1>; rel="first"'] } as unknown as IncomingHttpHeaders, pctx);
    expect(out).toEqual({ link: [`<${CLIENT}/v2${PREFIX}/a/tags/list?n=1&last=x>; rel="next"`, `</v2${PREFIX}/a/tags/list?n=1>; rel="first"`] });
  });

  it('drops headers the upstream names in Connection', () => {
    expect(clientResponseHeaders({ connection: 'close, X-A,x-b', 'x-a': '1', 'x-b': '2', 'x-c': '3' }, ctx)).toEqual({ 'x-c': '3' });
  });

  it('returns nothing for no headers', () => {
    expect(clientResponseHeaders({}, ctx)).toEqual({});
  });
});
