/** ConnectorSet: host names a connector cannot take from another, and clients kept across swaps. */
import { describe, expect, it } from 'vitest';
import type { Connector } from '../../src/connectors/model.ts';
import { ConnectorSet } from '../../src/connectors/set.ts';
import { DEFAULT_UPSTREAM_OPTIONS, UpstreamClient } from '../../src/upstream/client.ts';
import { TokenService } from '../../src/upstream/token.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { waitFor } from '../helpers/ports.ts';

const tokens = new TokenService({ max: 10, timeout: 1000 });
const UP = 'http://127.0.0.1:1';
const set = (cs: Connector[], previous?: ConnectorSet<UpstreamClient>) => new ConnectorSet(cs, (x) => new UpstreamClient(x, DEFAULT_UPSTREAM_OPTIONS, tokens), undefined, previous);

describe('host names', () => {
  it('a Service name always belongs to its connector; a colliding extra host is ignored and reported', () => {
    const s = set([
      connectorFor(UP, { name: 'aaa', params: { hosts: 'c-zzz.default.svc.cluster.local, shared.example' } }),
      connectorFor(UP, { name: 'zzz', params: { hosts: 'shared.example' } }),
    ]);
    expect(s.resolve(undefined, 'c-zzz.default.svc.cluster.local')!.client.key).toBe('default/zzz');
    expect(s.resolve(undefined, 'shared.example:5000')!.client.key).toBe('default/aaa');
    expect(s.ignoredHosts).toEqual(['default/aaa: c-zzz.default.svc.cluster.local', 'default/zzz: shared.example']);
    void s.close();
  });
});

describe('clients across swaps', () => {
  it('an unchanged connector keeps its client; a changed one gets a new client; replaced clients close only when released', async () => {
    const first = set([connectorFor(UP, { name: 'a' }), connectorFor(UP, { name: 'b' }), connectorFor(UP, { name: 'free' })]);
    const a = first.clients.get('default/a')!;
    const b = first.clients.get('default/b')!;
    const free = first.clients.get('default/free')!;
    b.acquire(); // a request chose b and has not reached the upstream yet
    const second = set([connectorFor(UP, { name: 'a' }), connectorFor('http://127.0.0.1:2', { name: 'b' }), connectorFor('http://127.0.0.1:3', { name: 'free' })], first);
    expect(second.clients.get('default/a')).toBe(a);
    expect(second.clients.get('default/b')).not.toBe(b);
    let closed = false;
    const retired = first.retireReplaced(second).then(() => (closed = true));
    // The replaced client no request holds closes at once: the held one had the same chance.
    await waitFor('the unheld replaced client to close', async () => free.closed, 2_000);
    expect(closed).toBe(false);
    expect(b.closed).toBe(false);
    expect(a.closed).toBe(false);
    b.release();
    await retired;
    expect(closed).toBe(true);
    expect(b.closed).toBe(true);
    expect(a.closed).toBe(false);
    await second.close();
  });
});
