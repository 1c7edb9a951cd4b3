/**
 * Access control under `static`: two upstream registries (one open, one token-auth) behind one
 * proxy, each connector with its own proxy tokens. skopeo pushes and pulls through both routing
 * modes with a proxy token; without one it is refused (401 with a Basic challenge); a token for
 * connector A is refused on connector B (403 DENIED). The management endpoints show a caller
 * only its connectors, and the config.json they render (holding the caller's token) is what
 * skopeo uses as its --authfile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { AccessControl, hashToken } from '../../src/access/control.ts';
import { basic, http, ociCode, rawRequest } from '../helpers/http.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { run, skopeo } from '../helpers/tools.ts';

const USER = { username: 'acl-upstream', password: 'acl-upstream-Pa55word' };
const TOKEN_OPEN = 'tok-open-0123456789abcdef';
const TOKEN_SECURE = 'tok-secure-0123456789abcdef';
const TOKEN_ALL = 'tok-all-0123456789abcdef';
const MT = 'application/vnd.oci.image.manifest.v1+json';

let ts: TokenServer;
let open: Registry;
let secure: Registry;
let proxy: RunningProxy;
let port: string;
const cleanup: string[] = [];

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  [open, secure] = await Promise.all([startRegistry(), startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 })]);
  const access = new AccessControl({
    mode: 'static',
    tokens: [
      { id: 'ci/open', sha256: hashToken(TOKEN_OPEN), connectors: ['default/open'] },
      { id: 'ci/secure', sha256: hashToken(TOKEN_SECURE), connectors: ['team-a/*'] },
      { id: 'ci/all', sha256: hashToken(TOKEN_ALL), connectors: ['*'] },
    ],
  });
  proxy = await startProxy(
    [
      // Host mode for `open`: the name `localhost` is one of its host names.
      connectorFor(open.url, { name: 'open', params: { hosts: 'localhost' } }),
      connectorFor(secure.url, { name: 'secure', namespace: 'team-a', credentials: USER }),
    ],
    { access },
  );
  port = proxy.host.split(':')[1]!;
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([open?.stop(), secure?.stop()]);
  await ts?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('registry API under static access', () => {
  it('skopeo pushes and pulls through both routing modes with a proxy token, each image in its own registry', async () => {
    const a = makeImage('amd64', [8_000]);
    const b = makeImage('arm64', [9_000]);
    const la = writeLayout([a], 'v1');
    const lb = writeLayout([b], 'v1');
    cleanup.push(la.dir, lb.dir);
    const byHost = `docker://localhost:${port}/team/app:v1`; // host mode → open
    const byPath = `docker://${proxy.host}/namespaces/team-a/connectors/secure/team/app:v1`; // path mode → secure
    const push1 = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `ci:${TOKEN_OPEN}`, la.ref, byHost]);
    expect(push1.code, push1.stderr).toBe(0);
    const push2 = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `ci:${TOKEN_SECURE}`, lb.ref, byPath]);
    expect(push2.code, push2.stderr).toBe(0);
    for (const [ref, token, image] of [
      [byHost, TOKEN_OPEN, a],
      [byPath, TOKEN_SECURE, b],
      [byPath, TOKEN_ALL, b],
    ] as const) {
      const inspect = await skopeo(['inspect', '--tls-verify=false', '--creds', `x:${token}`, ref]);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(JSON.parse(inspect.stdout).Digest).toBe(image.manifestDigest);
    }
    const direct = await http(`${open.url}/v2/team/app/manifests/v1`, { headers: { accept: MT } });
    expect(direct.headers['docker-content-digest']).toBe(a.manifestDigest);
  });

  it('refuses skopeo without a proxy token, and with a token for the other connector', async () => {
    const ref = `docker://${proxy.host}/namespaces/team-a/connectors/secure/team/app:v1`;
    const none = await skopeo(['inspect', '--tls-verify=false', ref]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/authentication required/);
    const other = await skopeo(['inspect', '--tls-verify=false', '--creds', `x:${TOKEN_OPEN}`, ref]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/denied/i);
    const wrong = await skopeo(['inspect', '--tls-verify=false', '--creds', 'x:not-a-valid-token-at-all', ref]);
    expect(wrong.code).not.toBe(0);
  });

  it.each([
    ['no credential', undefined, 401, 'UNAUTHORIZED'],
    ['a wrong token', basic('anyone', 'wrong-token-0123456789'), 401, 'UNAUTHORIZED'],
    ['malformed Basic', 'Basic !!!', 401, 'UNAUTHORIZED'],
    ['a token for another connector (Basic)', basic('anyone', TOKEN_OPEN), 403, 'DENIED'],
    ['a token for another connector (Bearer)', `Bearer ${TOKEN_OPEN}`, 403, 'DENIED'],
    ['its token as Bearer', `Bearer ${TOKEN_SECURE}`, 200, undefined],
    ['its token as Basic, any username', basic('whoever', TOKEN_SECURE), 200, undefined],
  ])('a manifest GET on team-a/secure with %s', async (_what, authorization, status, code) => {
    const headers: Record<string, string> = { accept: MT };
    if (authorization) headers['authorization'] = authorization;
    const res = await http(`${proxy.url}/v2/namespaces/team-a/connectors/secure/team/app/manifests/v1`, { headers });
    expect(res.status).toBe(status);
    if (code) {
      expect(ociCode(res)).toBe(code);
      if (status === 401) expect(res.headers['www-authenticate']).toBe('Basic realm="oci-connector-proxy"');
      else expect(res.headers['www-authenticate']).toBeUndefined();
    }
  });

  it.each([
    ['its token, then another', TOKEN_SECURE, TOKEN_OPEN],
    ['another token, then its own', TOKEN_OPEN, TOKEN_SECURE],
    ['its token twice', TOKEN_SECURE, TOKEN_SECURE],
  ])('refuses two Authorization headers even when one is valid: %s', async (_what, first, second) => {
    const answer = await rawRequest(
      Number(port),
      `GET /v2/namespaces/team-a/connectors/secure/team/app/manifests/v1 HTTP/1.1\r\nHost: ${proxy.host}\r\nAuthorization: Bearer ${first}\r\nauthorization: Bearer ${second}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    expect(answer).toContain('more than one Authorization header');
  });

  it('GET /v2/ with no default connector: 401 challenge without a token, 200 with any valid token', async () => {
    expect((await http(`${proxy.url}/v2/`)).status).toBe(401);
    expect((await http(`${proxy.url}/v2/`, { headers: { authorization: basic('anyone', 'bogus-token-0123456789') } })).status).toBe(401);
    for (const t of [TOKEN_OPEN, TOKEN_SECURE]) {
      const res = await http(`${proxy.url}/v2/`, { headers: { authorization: basic('anyone', t) } });
      expect(res.status).toBe(200);
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    }
    // By host, GET /v2/ is the connector's own: a token for another one is refused.
    const host = await request(`${proxy.url}/v2/`, { headers: { host: `localhost:${port}`, authorization: basic('anyone', TOKEN_SECURE) } });
    await host.body.dump();
    expect(host.statusCode).toBe(403);
  });

  it('which connectors exist is not told to callers the proxy does not know', async () => {
    const unknown = `${proxy.url}/v2/namespaces/team-a/connectors/nope/team/app/manifests/v1`;
    for (const headers of [{}, { authorization: basic('anyone', 'not-a-token-0123456789') }] as Record<string, string>[]) {
      const res = await http(unknown, { headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="oci-connector-proxy"');
      expect((await http(`${proxy.url}/connectors/team-a/nope`, { headers })).status).toBe(401);
    }
    const known = await http(unknown, { headers: { authorization: basic('anyone', TOKEN_OPEN) } });
    expect(known.status).toBe(404);
    expect(ociCode(known)).toBe('NAME_UNKNOWN');
  });

  it('plain /v2/<repo> with two connectors and no default is 404 NAME_UNKNOWN saying how to choose', async () => {
    const res = await http(`${proxy.url}/v2/team/app/manifests/v1`, { headers: { authorization: basic('anyone', TOKEN_ALL) } });
    expect(res.status).toBe(404);
    expect(ociCode(res)).toBe('NAME_UNKNOWN');
    expect(res.body.toString()).toContain('/v2/namespaces/<ns>/connectors/<name>/<repository>');
  });
});

describe('management endpoints under static access', () => {
  interface Item {
    metadata: { namespace: string; name: string };
    status: { proxy: { httpAddress: { url: string } }; access: string };
  }

  it('lists only the connectors the caller may use; 401 without a token', async () => {
    const none = await http(`${proxy.url}/connectors`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="oci-connector-proxy"');
    const names = async (token: string): Promise<string[]> => {
      const res = await http(`${proxy.url}/connectors`, { headers: { authorization: basic('anyone', token) } });
      expect(res.status).toBe(200);
      return (res.json() as { items: Item[] }).items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    };
    expect(await names(TOKEN_OPEN)).toEqual(['default/open']);
    expect(await names(TOKEN_SECURE)).toEqual(['team-a/secure']);
    expect(await names(TOKEN_ALL)).toEqual(['default/open', 'team-a/secure']);
  });

  it('one connector: its status with the path-mode proxy address; 403 for another caller; 404 for an unknown one', async () => {
    const res = await http(`${proxy.url}/connectors/team-a/secure`, { headers: { authorization: basic('anyone', TOKEN_SECURE) } });
    expect(res.status).toBe(200);
    const item = res.json() as Item & { spec: Record<string, unknown> };
    expect(item.status.proxy.httpAddress.url).toBe(`http://${proxy.host}/namespaces/team-a/connectors/secure`);
    expect(item.status.access).toBe('static');
    expect(JSON.stringify(item)).not.toContain(USER.password);
    expect((await http(`${proxy.url}/connectors/team-a/secure`, { headers: { authorization: basic('anyone', TOKEN_OPEN) } })).status).toBe(403);
    const unknown = await http(`${proxy.url}/connectors/team-a/nope`, { headers: { authorization: basic('anyone', TOKEN_ALL) } });
    expect(unknown.status).toBe(404);
    expect(ociCode(unknown)).toBe('NAME_UNKNOWN');
  });

  it("the rendered config.json holds the caller's own token, and skopeo pulls with it as --authfile", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocp-acl-'));
    cleanup.push(dir);
    const get = async (file: string): Promise<string> => {
      const res = await http(`${proxy.url}/connectors/team-a/secure/configurations/${file}`, { headers: { authorization: basic('builder', TOKEN_SECURE) } });
      expect(res.status, file).toBe(200);
      return res.body.toString();
    };
    const config = await get('config.json');
    expect(JSON.parse(config)).toEqual({ auths: { [proxy.host]: { auth: Buffer.from(`builder:${TOKEN_SECURE}`).toString('base64') } } });
    expect(config).not.toContain(USER.password);
    writeFileSync(join(dir, 'config.json'), config);
    writeFileSync(join(dir, 'registries.conf'), await get('registries.conf'));
    const ref = `docker://${proxy.host}/namespaces/team-a/connectors/secure/team/app:v1`;
    const ok = await run('skopeo', ['--insecure-policy', '--registries-conf', join(dir, 'registries.conf'), 'inspect', '--authfile', join(dir, 'config.json'), ref], 30_000);
    expect(ok.code, ok.stderr).toBe(0);
    // The same files without the credential: refused.
    writeFileSync(join(dir, 'empty.json'), '{"auths":{}}');
    const refused = await run('skopeo', ['--insecure-policy', '--registries-conf', join(dir, 'registries.conf'), 'inspect', '--authfile', join(dir, 'empty.json'), ref], 30_000);
    expect(refused.code).not.toBe(0);
    const unknown = await http(`${proxy.url}/connectors/team-a/secure/configurations/passwd`, { headers: { authorization: basic('anyone', TOKEN_SECURE) } });
    expect(unknown.status).toBe(404);
  });

  it('no response or log line holds a proxy token or the upstream password', async () => {
    const all = proxy.logs.join('\n');
    for (const secret of [TOKEN_OPEN, TOKEN_SECURE, TOKEN_ALL, USER.password, Buffer.from(`x:${TOKEN_SECURE}`).toString('base64')]) {
      expect(all).not.toContain(secret);
    }
  });
});
