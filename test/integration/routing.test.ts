/**
 * Several connectors behind one proxy: an open registry and a token-auth registry, chosen by
 * the `/namespaces/<ns>/connectors/<name>/` path prefix (skopeo, end to end) or by the Host
 * header (`c-<name>.<namespace>[.svc[.cluster.local]]`, or a configured host name).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyAddress, renderConfiguration } from '../../src/configurations/render.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { http, ociCode } from '../helpers/http.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { waitFor } from '../helpers/ports.ts';
import { inFlight, startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { run, skopeo } from '../helpers/tools.ts';
import { Readable } from 'node:stream';

const USER = { username: 'router', password: 'router-Pa55word' };
let ts: TokenServer;
let open: Registry;
let secure: Registry;
let proxy: RunningProxy;
const cleanup: string[] = [];
const MT = 'application/vnd.oci.image.manifest.v1+json';

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  [open, secure] = await Promise.all([startRegistry(), startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 })]);
  proxy = await startProxy(
    [connectorFor(open.url, { name: 'open' }), connectorFor(secure.url, { name: 'secure', namespace: 'team-a', credentials: USER, params: { hosts: 'registry.team-a.example' } })],
    { defaultConnector: 'default/open' },
  );
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([open?.stop(), secure?.stop()]);
  await ts?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('path mode', () => {
  it('skopeo pushes and pulls through each connector by path prefix; each image lands in its own registry', async () => {
    const a = makeImage('amd64', [10_000]);
    const b = makeImage('arm64', [20_000]);
    const la = writeLayout([a], 'v1');
    const lb = writeLayout([b], 'v1');
    cleanup.push(la.dir, lb.dir);
    const toOpen = `docker://${proxy.host}/namespaces/default/connectors/open/team/app:v1`;
    const toSecure = `docker://${proxy.host}/namespaces/team-a/connectors/secure/team/app:v1`;
    for (const [src, dst] of [
      [la.ref, toOpen],
      [lb.ref, toSecure],
    ] as const) {
      const push = await skopeo(['copy', '--dest-tls-verify=false', src, dst]);
      expect(push.code, push.stderr).toBe(0);
    }
    for (const [ref, image] of [
      [toOpen, a],
      [toSecure, b],
    ] as const) {
      const inspect = await skopeo(['inspect', '--tls-verify=false', ref]);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(JSON.parse(inspect.stdout).Digest).toBe(image.manifestDigest);
    }
    // each registry holds its own image
    const direct = await http(`${open.url}/v2/team/app/manifests/v1`, { headers: { accept: MT } });
    expect(direct.headers['docker-content-digest']).toBe(a.manifestDigest);
    expect((await http(`${secure.url}/v2/team/app/manifests/v1`, { headers: { accept: MT } })).status).toBe(401);
  });

  it('puts the prefix back on upload Locations, relative and absolute', async () => {
    const res = await http(`${proxy.url}/v2/namespaces/team-a/connectors/secure/team/x/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect((res.headers['location'] as string).startsWith(`${proxy.url}/v2/namespaces/team-a/connectors/secure/team/x/blobs/uploads/`)).toBe(true);
  });

  it('puts the prefix on the name field of tag lists, so <name>:<tag> is a usable reference', async () => {
    const res = await http(`${proxy.url}/v2/namespaces/team-a/connectors/secure/team/app/tags/list`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ name: 'namespaces/team-a/connectors/secure/team/app', tags: ['v1'] });
    expect(res.headers['content-length']).toBe(String(res.body.length));
    // plain paths keep the upstream's name
    const plain = await http(`${proxy.url}/v2/team/app/tags/list`);
    expect((plain.json() as { name: string }).name).toBe('team/app');
  });

  it('an unknown connector is a 404 NAME_UNKNOWN naming what was asked for', async () => {
    const res = await http(`${proxy.url}/v2/namespaces/default/connectors/nope/team/app/manifests/v1`);
    expect(res.status).toBe(404);
    expect(ociCode(res)).toBe('NAME_UNKNOWN');
    expect((res.json() as { errors: { message: string }[] }).errors[0]!.message).toBe('connector default/nope is not served by this proxy');
  });
});

describe('host mode', () => {
  it.each([
    ['c-secure.team-a', 'secure'],
    ['c-secure.team-a.svc:5000', 'secure'],
    ['C-SECURE.TEAM-A.SVC.CLUSTER.LOCAL:80', 'secure'],
    ['registry.team-a.example:5000', 'secure'],
    ['c-open.default.svc.cluster.local', 'open'],
    ['unknown.example:5000', 'open (the default)'],
  ])('Host %s goes to %s', async (host, which) => {
    const res = await request(`${proxy.url}/v2/team/app/manifests/v1`, { headers: { host, accept: MT } });
    const body = await res.body.text();
    expect(res.statusCode, body).toBe(200);
    const isSecure = which === 'secure';
    const digest = res.headers['docker-content-digest'];
    const openDigest = (await http(`${open.url}/v2/team/app/manifests/v1`, { headers: { accept: MT } })).headers['docker-content-digest'];
    expect(digest === openDigest).toBe(!isSecure);
  });

  it('rewrites Locations to the Host the client used', async () => {
    const res = await request(`${proxy.url}/v2/team/y/blobs/uploads/`, { method: 'POST', headers: { host: 'c-secure.team-a.svc.cluster.local:5000' } });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
    expect((res.headers['location'] as string).startsWith('http://c-secure.team-a.svc.cluster.local:5000/v2/team/y/blobs/uploads/')).toBe(true);
  });
});

describe('rendered client configurations', () => {
  it('skopeo uses the rendered registries.conf and config.json instead of --tls-verify=false and credentials of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocp-render-'));
    cleanup.push(dir);
    const address = proxyAddress({ namespace: 'team-a', name: 'secure' }, { mode: 'path', proxyHost: proxy.host });
    writeFileSync(join(dir, 'registries.conf'), renderConfiguration('registries.conf', address));
    writeFileSync(join(dir, 'config.json'), renderConfiguration('config.json', address));
    const ref = `docker://${address.imagePrefix}/team/app:v1`;
    // without the rendered file, skopeo insists on TLS and fails
    const refused = await run('skopeo', ['--insecure-policy', 'inspect', '--authfile', join(dir, 'config.json'), ref], 30_000);
    expect(refused.code).not.toBe(0);
    const ok = await run('skopeo', ['--insecure-policy', '--registries-conf', join(dir, 'registries.conf'), 'inspect', '--authfile', join(dir, 'config.json'), ref], 30_000);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).Name).toBe(`${address.imagePrefix}/team/app`);
  });
});

describe('live reconfiguration', () => {
  it('a download in flight finishes on the connector set it started with; new requests see the new set', async () => {
    const blob = randomBytes(32 * 1024 * 1024);
    const digest = 'sha256:' + createHash('sha256').update(blob).digest('hex');
    const start = await http(`${open.url}/v2/team/big/blobs/uploads/`, { method: 'POST' });
    const put = await http(`${new URL(start.headers['location'] as string, open.url).href}&digest=${digest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.length) },
      body: blob,
    });
    expect(put.status).toBe(201);

    const res = await request(`${proxy.url}/v2/namespaces/default/connectors/open/team/big/blobs/${digest}`);
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let got = 0;
    let swapped = false;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (!swapped && got > 1024 * 1024) {
        swapped = true;
        // The connector goes away while the body is still streaming.
        await proxy.server.setConnectors([connectorFor(secure.url, { name: 'secure', namespace: 'team-a', credentials: USER })]);
        const gone = await http(`${proxy.url}/v2/namespaces/default/connectors/open/team/big/blobs/${digest}`, { method: 'HEAD' });
        expect(gone.status).toBe(404);
      }
    }
    expect(swapped).toBe(true);
    expect(got).toBe(blob.length);
    expect('sha256:' + hash.digest('hex')).toBe(digest);
    // Put the original set back for any later test.
    await proxy.server.setConnectors([
      connectorFor(open.url, { name: 'open' }),
      connectorFor(secure.url, { name: 'secure', namespace: 'team-a', credentials: USER, params: { hosts: 'registry.team-a.example' } }),
    ]);
  });

  it('a manifest PUT whose body is still arriving survives a swap that keeps its connector', async () => {
    const image = makeImage('amd64', [1_000]);
    const layout = writeLayout([image], 'v1');
    cleanup.push(layout.dir);
    const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://${proxy.host}/namespaces/default/connectors/open/team/swap:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const half = Math.floor(image.manifest.length / 2);
    let sendRest: () => void = () => {};
    const body = Readable.from(
      (async function* () {
        yield image.manifest.subarray(0, half);
        await new Promise<void>((r) => (sendRest = r));
        yield image.manifest.subarray(half);
      })(),
    );
    const put = request(`${proxy.url}/v2/namespaces/default/connectors/open/team/swap/manifests/v2`, {
      method: 'PUT',
      headers: { 'content-type': MT, 'content-length': String(image.manifest.length) },
      body,
    });
    await waitFor('the PUT to be routed to its connector', async () => (await inFlight(proxy, 'default/open')) === 1, 5_000);
    // The same connectors again (as a reload of an unrelated change does).
    await proxy.server.setConnectors([
      connectorFor(open.url, { name: 'open' }),
      connectorFor(secure.url, { name: 'secure', namespace: 'team-a', credentials: USER, params: { hosts: 'registry.team-a.example' } }),
    ]);
    sendRest();
    const res = await put;
    const text = await res.body.text();
    expect(res.statusCode, text).toBe(201);
    expect(res.headers['docker-content-digest']).toBe(image.manifestDigest);
  });
});
