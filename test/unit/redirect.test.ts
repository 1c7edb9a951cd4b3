/** The redirect layer with a fake registry below and a fake storage dispatcher: what is followed, where, and with what. */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { StorageRefused } from '../../src/upstream/errors.ts';
import { redirectLayer } from '../../src/upstream/redirect.ts';
import type { UpstreamRequest, UpstreamResponse } from '../../src/upstream/types.ts';

const ORIGIN = 'https://registry.example.com';
const empty = (status: number, headers: Record<string, string> = {}): UpstreamResponse => ({ statusCode: status, headers, body: Readable.from([], { objectMode: false }) });
const req = (method = 'GET'): UpstreamRequest => ({
  method,
  path: '/v2/a/blobs/sha256:x',
  headers: ['range', 'bytes=0-9', 'authorization', 'Bearer secret', 'cookie', 'c=1', 'accept', '*/*'],
  body: null,
  scopes: ['repository:a:pull'],
  traffic: 'bulk',
});

/** A storage host that answers `status` and records the requests it got. */
function storage(status: number, headers: Record<string, string> = {}) {
  const seen: { origin: string; path: string; headers: string[] }[] = [];
  const dispatcher = {
    async request(o: { origin: string; path: string; headers: string[] }) {
      seen.push({ origin: o.origin, path: o.path, headers: o.headers });
      return { statusCode: status, headers: { ...headers }, body: Readable.from([Buffer.from('stored')]) };
    },
  } as unknown as Dispatcher;
  return { dispatcher, seen };
}

describe('redirectLayer', () => {
  it('follows a storage redirect with only the storage headers, and never a credential', async () => {
    const s = storage(200);
    const send = redirectLayer('follow', ORIGIN, s.dispatcher)(async () => empty(307, { location: 'https://bucket.s3.example/b?sig=a%2F' }));
    const res = await send(req());
    expect(res.statusCode).toBe(200);
    expect(s.seen).toEqual([{ origin: 'https://bucket.s3.example', path: '/b?sig=a%2F', headers: ['range', 'bytes=0-9', 'accept', '*/*'] }]);
  });

  it('a hop back to the registry goes through the layers below again (auth included), with the new path', async () => {
    const below: string[] = [];
    const send = redirectLayer(
      'follow',
      ORIGIN,
      storage(200).dispatcher,
    )(async (r) => {
      below.push(r.path);
      return below.length === 1 ? empty(302, { location: '/v2/a/blobs/moved' }) : empty(200);
    });
    expect((await send(req())).statusCode).toBe(200);
    expect(below).toEqual(['/v2/a/blobs/sha256:x', '/v2/a/blobs/moved']);
  });

  it.each([401, 403])("a storage host's %i is StorageRefused: its challenge reaches neither the auth layer nor the client", async (status) => {
    const s = storage(status, { 'www-authenticate': 'Bearer realm="https://evil.example/token"' });
    const send = redirectLayer('follow', ORIGIN, s.dispatcher)(async () => empty(307, { location: 'https://evil.example/b' }));
    const err = await send(req()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageRefused);
    expect([(err as StorageRefused).host, (err as StorageRefused).status]).toEqual(['evil.example', status]);
  });

  it('pass hands the redirect over; only GET and HEAD are followed; at most 5 hops; odd locations are left alone', async () => {
    const loop = async (): Promise<UpstreamResponse> => empty(307, { location: '/v2/a/blobs/again' });
    expect((await redirectLayer('pass', ORIGIN, storage(200).dispatcher)(loop)(req())).statusCode).toBe(307);
    expect((await redirectLayer('follow', ORIGIN, storage(200).dispatcher)(loop)(req('DELETE'))).statusCode).toBe(307);
    let hops = 0;
    const counted = async (): Promise<UpstreamResponse> => (hops++, empty(307, { location: '/v2/a/blobs/again' }));
    expect((await redirectLayer('follow', ORIGIN, storage(200).dispatcher)(counted)(req())).statusCode).toBe(307);
    expect(hops).toBe(6);
    for (const location of ['ftp://x/y', 'http://[bad', '']) {
      const s = storage(200);
      const res = await redirectLayer('follow', ORIGIN, s.dispatcher)(async () => empty(307, { location }))(req());
      expect([location, res.statusCode, s.seen.length]).toEqual([location, 307, 0]);
    }
  });
});
