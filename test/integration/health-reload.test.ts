/**
 * Health conditions and live reload, end to end against real processes: the CLI (dist/cli.js)
 * watching its --config file, a token-auth docker-registry with its token server, and an open
 * docker-registry. Each step rewrites the file atomically (rename into place) and checks what
 * GET /connectors reports, what a pull through the proxy gets, and what the proxy logs; at the
 * end, that no password ever reached the proxy's output.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configYaml, type ConnectorSpec, writeFileAtomic } from '../helpers/config-files.ts';
import { http, ociCode, type Answer } from '../helpers/http.ts';
import { makeImage, MT, writeLayout, type Image } from '../helpers/oci.ts';
import { freePort, waitFor } from '../helpers/ports.ts';
import { spawnProxy, type ProxyProcess } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const USERNAME = 'health-robot';
const GOOD_PASSWORD = `Good-Pa55-${randomBytes(8).toString('hex')}`;
const WRONG_PASSWORD = `Wrong-Pa55-${randomBytes(8).toString('hex')}`;
const REPO = 'team/app';
const TAG = 'v1';
/** Every wait on the proxy is bounded by this. */
const WAIT_MS = 15_000;
const REJECTED = 'configuration change rejected; still serving the previous configuration';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}
interface ConnectorView {
  metadata: { namespace: string; name: string };
  spec: { address: string };
  status: { conditions: Condition[]; checkedAt?: string; proxy: { httpAddress: { url: string } } };
}
interface LogLine {
  level: number;
  msg: string;
  err?: string;
  connector?: string;
  ready?: string;
  reason?: string;
  message?: string;
}

let ts: TokenServer;
let secureRegistry: Registry;
let openRegistry: Registry;
let proxy: ProxyProcess;
let dir: string;
let configFile: string;
let refusedPort: number;
let secureImage: Image;
let openImage: Image;
const cleanup: string[] = [];

const secure = (password: string): ConnectorSpec => ({
  namespace: 'team-a',
  name: 'secure',
  address: secureRegistry.url,
  repository: REPO,
  secret: { name: 'secure-registry', username: USERNAME, password },
});
const open = (): ConnectorSpec => ({ namespace: 'default', name: 'open', address: openRegistry.url });
const down = (): ConnectorSpec => ({ namespace: 'team-b', name: 'down', address: `http://127.0.0.1:${refusedPort}`, repository: REPO });

async function getJson<T>(path: string): Promise<T> {
  const res = await http(`${proxy.url}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.toString()}`);
  return res.json() as T;
}
const view = (ns: string, name: string) => getJson<ConnectorView>(`/connectors/${ns}/${name}`);
const list = async () => (await getJson<{ items: ConnectorView[] }>('/connectors')).items;
const keys = (items: ConnectorView[]) => items.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).sort();

function cond(v: ConnectorView, type: string): Condition {
  const c = v.status.conditions.find((x) => x.type === type);
  if (!c) throw new Error(`${v.metadata.namespace}/${v.metadata.name} has no ${type} condition: ${JSON.stringify(v.status)}`);
  return c;
}

/** Polls one connector's status until `ok` holds; returns that status. */
async function waitForStatus(ns: string, name: string, what: string, ok: (v: ConnectorView) => boolean): Promise<ConnectorView> {
  let last: ConnectorView | undefined;
  try {
    await waitFor(`${ns}/${name}: ${what}`, async () => ok((last = await view(ns, name))), WAIT_MS);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
  return last!;
}

const manifest = (ns: string, name: string): Promise<Answer> =>
  http(`${proxy.url}/v2/namespaces/${ns}/connectors/${name}/${REPO}/manifests/${TAG}`, { headers: { accept: MT.manifest } });

/** The proxy's complete JSON log lines so far (a line still being written is left for later). */
function logLines(): LogLine[] {
  const lines = proxy.output().split('\n');
  lines.pop();
  return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/**
 * Waits until the proxy has logged `count` lines that match; returns them. (The proxy's stdout
 * pipe and its HTTP answers are separate channels: a line written before a status changed may
 * reach this process after the status does, so log lines are always waited for.)
 */
async function waitForLines(what: string, match: (l: LogLine) => boolean, count = 1): Promise<LogLine[]> {
  let found: LogLine[] = [];
  await waitFor(`${count} log line(s) ${what}`, async () => (found = logLines().filter(match)).length >= count, WAIT_MS).catch((err: Error) => {
    throw new Error(`${err.message}; proxy output:\n${proxy.output().slice(-4_000)}`);
  });
  return found;
}
const waitForLog = (msg: string, count: number): Promise<LogLine[]> => waitForLines(JSON.stringify(msg), (l) => l.msg === msg, count);

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USERNAME]: { password: GOOD_PASSWORD, rights: () => ['*'] } } });
  [secureRegistry, openRegistry] = await Promise.all([startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 }), startRegistry()]);
  refusedPort = await freePort();

  // The images the health check lists and the pulls fetch: pushed straight to each registry,
  // to the token-auth one with skopeo's own credentials (the proxy is not running yet).
  secureImage = makeImage('amd64', [2048]);
  openImage = makeImage('arm64', [2048]);
  const secureLayout = writeLayout([secureImage], TAG);
  const openLayout = writeLayout([openImage], TAG);
  cleanup.push(secureLayout.dir, openLayout.dir);
  const pushes = await Promise.all([
    skopeo(
      ['copy', '--dest-tls-verify=false', '--dest-creds', `${USERNAME}:${GOOD_PASSWORD}`, secureLayout.ref, `docker://127.0.0.1:${secureRegistry.port}/${REPO}:${TAG}`],
      30_000,
    ),
    skopeo(['copy', '--dest-tls-verify=false', openLayout.ref, `docker://127.0.0.1:${openRegistry.port}/${REPO}:${TAG}`], 30_000),
  ]);
  for (const p of pushes) expect(p.code, p.stderr).toBe(0);

  dir = mkdtempSync(join(tmpdir(), 'ocp-health-reload-'));
  cleanup.push(dir);
  configFile = join(dir, 'connectors.yaml');
  writeFileSync(configFile, configYaml([secure(GOOD_PASSWORD), open()]));
  proxy = await spawnProxy(['--config', configFile, '--health-interval', '0', '--health-timeout', '5000', '--log-level', 'info']);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([secureRegistry?.stop(), openRegistry?.stop()]);
  await ts?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('health conditions and configuration reload (CLI process, real registries)', () => {
  let authReadySince: string;
  let livenessSince: string;

  it('at start-up the token-auth connector is Ready with working credentials; the open one is NonAuthProbe', async () => {
    const v = await waitForStatus('team-a', 'secure', 'AuthReady True', (x) => cond(x, 'AuthReady').status === 'True');
    expect(cond(v, 'Ready')).toMatchObject({ status: 'True', reason: '' });
    expect(cond(v, 'LivenessReady')).toMatchObject({ status: 'True', reason: '' });
    expect(cond(v, 'SecretReady')).toMatchObject({ status: 'True', reason: '' });
    expect(cond(v, 'AuthReady')).toMatchObject({ status: 'True', reason: '', message: '' });
    expect(v.status.proxy.httpAddress.url).toBe(`http://${proxy.host}/namespaces/team-a/connectors/secure`);
    expect(v.spec.address).toBe(secureRegistry.url);
    expect(Number.isNaN(Date.parse(v.status.checkedAt ?? ''))).toBe(false);
    authReadySince = cond(v, 'AuthReady').lastTransitionTime;
    livenessSince = cond(v, 'LivenessReady').lastTransitionTime;

    const o = await waitForStatus('default', 'open', 'checked', (x) => cond(x, 'AuthReady').status !== 'Unknown');
    expect(cond(o, 'AuthReady')).toMatchObject({ status: 'True', reason: 'NonAuthProbe' });
    expect(cond(o, 'LivenessReady')).toMatchObject({ status: 'True' });
    expect(cond(o, 'SecretReady')).toMatchObject({ status: 'True', reason: 'SecretOptional' });
    expect(cond(o, 'Ready')).toMatchObject({ status: 'True' });
    expect(o.status.proxy.httpAddress.url).toBe(`http://${proxy.host}/namespaces/default/connectors/open`);

    expect(keys(await list())).toEqual(['default/open', 'team-a/secure']);

    // and both serve: each connector's image comes from its own registry
    const s = await manifest('team-a', 'secure');
    expect(s.status, s.body.toString()).toBe(200);
    expect(s.headers['docker-content-digest']).toBe(secureImage.manifestDigest);
    const p = await manifest('default', 'open');
    expect(p.status, p.body.toString()).toBe(200);
    expect(p.headers['docker-content-digest']).toBe(openImage.manifestDigest);
  });

  it('a wrong password (file renamed into place) turns AuthReady False AuthenticationFailed; pulls then get 401', async () => {
    const appliedBefore = logLines().filter((l) => l.msg === 'configuration applied').length;
    ts.resetCounts();
    writeFileAtomic(configFile, configYaml([secure(WRONG_PASSWORD), open()]));

    const v = await waitForStatus('team-a', 'secure', 'AuthReady False', (x) => cond(x, 'AuthReady').status === 'False');
    const auth = cond(v, 'AuthReady');
    expect(auth.reason).toBe('AuthenticationFailed');
    expect(auth.message.startsWith('Authentication failed: status code 401'), auth.message).toBe(true);
    expect(auth.lastTransitionTime).not.toBe(authReadySince);
    expect(Date.parse(auth.lastTransitionTime)).toBeGreaterThan(Date.parse(authReadySince));
    expect(cond(v, 'Ready')).toMatchObject({ status: 'False', reason: 'AuthenticationFailed', message: auth.message });
    // the registry is up all the same: liveness did not transition
    expect(cond(v, 'LivenessReady')).toMatchObject({ status: 'True', lastTransitionTime: livenessSince });
    expect(cond(v, 'SecretReady').status).toBe('True');
    authReadySince = auth.lastTransitionTime;
    await waitForLog('configuration applied', appliedBefore + 1);
    const [notReady] = await waitForLines('team-a/secure not ready', (l) => l.msg === 'connector not ready' && l.connector === 'team-a/secure');
    expect(notReady).toMatchObject({ level: 40, ready: 'False', reason: 'AuthenticationFailed', message: auth.message });

    // The tokens got with the old password are not used any more: the pull that worked a moment ago is refused now.
    const pull = await manifest('team-a', 'secure');
    expect(pull.status, pull.body.toString()).toBe(401);
    expect(ociCode(pull)).toBe('UNAUTHORIZED');
    expect(pull.body.toString()).toContain("refused the connector's credentials");
    // the token server was asked with the new (wrong) password and said no; it issued nothing
    expect(ts.requests.length).toBeGreaterThan(0);
    expect(
      ts.requests.every((r) => r.user === null && r.status === 401),
      JSON.stringify(ts.requests),
    ).toBe(true);

    // the open connector is untouched by the other one's Secret
    expect((await manifest('default', 'open')).status).toBe(200);
  });

  it('fixing the password brings AuthReady back to True and pulls work again', async () => {
    writeFileAtomic(configFile, configYaml([secure(GOOD_PASSWORD), open()]));
    const v = await waitForStatus('team-a', 'secure', 'AuthReady True again', (x) => cond(x, 'AuthReady').status === 'True');
    expect(cond(v, 'AuthReady')).toMatchObject({ status: 'True', reason: '', message: '' });
    expect(Date.parse(cond(v, 'AuthReady').lastTransitionTime)).toBeGreaterThan(Date.parse(authReadySince));
    expect(cond(v, 'Ready')).toMatchObject({ status: 'True', reason: '' });
    // logged: once at start-up, once now
    const health = await waitForLines('team-a/secure healthy twice', (l) => l.msg === 'connector health' && l.connector === 'team-a/secure', 2);
    expect(health).toHaveLength(2);
    expect(health[1]).toMatchObject({ level: 30, ready: 'True' });

    const pull = await manifest('team-a', 'secure');
    expect(pull.status, pull.body.toString()).toBe(200);
    expect(pull.headers['docker-content-digest']).toBe(secureImage.manifestDigest);
  });

  it('an invalid change is rejected with the file and the problem logged; the previous configuration keeps serving', async () => {
    const before = await list();
    const checkedAt = Object.fromEntries(before.map((v) => [`${v.metadata.namespace}/${v.metadata.name}`, v.status.checkedAt]));

    // 1. broken YAML, on the very line that holds the (good) password
    const broken = configYaml([secure(GOOD_PASSWORD), open()]).replace(`password: "${GOOD_PASSWORD}"`, `password: ${GOOD_PASSWORD}: oops`);
    expect(broken).toContain(': oops');
    writeFileAtomic(configFile, broken);
    const [yamlRejection] = await waitForLog(REJECTED, 1);
    expect(yamlRejection!.err).toContain(configFile);
    expect(yamlRejection!.err).toMatch(/document 2 \(line \d+, column \d+\): invalid YAML: /);
    expect(yamlRejection!.level).toBeGreaterThanOrEqual(50);

    // 2. well-formed YAML, but a Connector field the proxy refuses
    writeFileAtomic(configFile, configYaml([secure(GOOD_PASSWORD), open()]).replace('connectorClassName: oci', 'connectorClassName: git'));
    const rejections = await waitForLog(REJECTED, 2);
    expect(rejections[1]!.err).toBe(`${configFile}: document 1 (Connector team-a/secure): spec.connectorClassName: must be "oci", got "git"`);

    // both connectors still serve, with the status they had: nothing was re-applied or re-checked
    const s = await manifest('team-a', 'secure');
    expect(s.status, s.body.toString()).toBe(200);
    expect(s.headers['docker-content-digest']).toBe(secureImage.manifestDigest);
    const o = await manifest('default', 'open');
    expect(o.status, o.body.toString()).toBe(200);
    expect(o.headers['docker-content-digest']).toBe(openImage.manifestDigest);
    const after = await list();
    expect(keys(after)).toEqual(['default/open', 'team-a/secure']);
    for (const v of after) {
      expect(cond(v, 'Ready').status).toBe('True');
      expect(v.status.checkedAt).toBe(checkedAt[`${v.metadata.namespace}/${v.metadata.name}`]);
    }
  });

  it('removing a connector from the file stops serving it: 404 NAME_UNKNOWN, and it leaves GET /connectors', async () => {
    ts.resetCounts();
    writeFileAtomic(configFile, configYaml([secure(GOOD_PASSWORD)]));
    await waitFor('default/open to leave GET /connectors', async () => !keys(await list()).includes('default/open'), WAIT_MS);
    expect(keys(await list())).toEqual(['team-a/secure']);

    const gone = await manifest('default', 'open');
    expect(gone.status).toBe(404);
    expect(ociCode(gone)).toBe('NAME_UNKNOWN');
    expect((gone.json() as { errors: { message: string }[] }).errors[0]!.message).toBe('connector default/open is not served by this proxy');
    const status = await http(`${proxy.url}/connectors/default/open`);
    expect(status.status).toBe(404);
    expect(ociCode(status)).toBe('NAME_UNKNOWN');

    // the connector that stayed keeps serving
    const s = await manifest('team-a', 'secure');
    expect(s.status, s.body.toString()).toBe(200);
  });

  it('a registry that refuses connections is LivenessReady False ConnectionFailed, naming the address', async () => {
    writeFileAtomic(configFile, configYaml([secure(GOOD_PASSWORD), down()]));
    const v = await waitForStatus('team-b', 'down', 'checked', (x) => cond(x, 'LivenessReady').status !== 'Unknown');
    const address = `127.0.0.1:${refusedPort}`;
    const liveness = cond(v, 'LivenessReady');
    expect(liveness.status).toBe('False');
    expect(liveness.reason).toBe('ConnectionFailed');
    expect(liveness.message.startsWith(`Get "http://${address}/v2/": `), liveness.message).toBe(true);
    expect(liveness.message).toContain('ECONNREFUSED');
    expect(cond(v, 'AuthReady')).toMatchObject({ status: 'False', reason: 'ConnectionFailed', message: liveness.message });
    expect(cond(v, 'Ready')).toMatchObject({ status: 'False', reason: 'ConnectionFailed', message: liveness.message });
    expect(cond(v, 'SecretReady')).toMatchObject({ status: 'True', reason: 'SecretOptional' });
    const [notReady] = await waitForLines('team-b/down not ready', (l) => l.msg === 'connector not ready' && l.connector === 'team-b/down');
    expect(notReady).toMatchObject({ level: 40, ready: 'False', reason: 'ConnectionFailed', message: liveness.message });
    expect(notReady!.message).toContain(address);

    // a pull through it is a 502 naming the connector and what went wrong
    const pull = await manifest('team-b', 'down');
    expect(pull.status).toBe(502);
    expect(ociCode(pull)).toBe('UNAVAILABLE');
    expect(pull.body.toString()).toContain(`connector team-b/down: upstream ${address} refused the connection`);

    // The secure connector, unchanged across the last two reloads, is still Ready and kept its
    // cached tokens: its re-checks and pulls asked the token server for nothing.
    const s = await waitForStatus('team-a', 'secure', 'Ready', (x) => cond(x, 'Ready').status === 'True');
    expect(cond(s, 'AuthReady').status).toBe('True');
    expect((await manifest('team-a', 'secure')).status).toBe(200);
    expect(ts.counts.total, JSON.stringify(ts.requests)).toBe(0);
  });

  it('never writes either password (or a token the proxy was issued) to its output', async () => {
    const out = proxy.output();
    expect(out.length).toBeGreaterThan(0);
    expect(out).toContain('configuration applied');
    for (const secret of [GOOD_PASSWORD, WRONG_PASSWORD]) {
      expect(out.includes(secret), 'a password is in the proxy output').toBe(false);
      expect(out.includes(Buffer.from(`${USERNAME}:${secret}`).toString('base64')), 'a Basic credential is in the proxy output').toBe(false);
      expect(out.includes(encodeURIComponent(secret)), 'a form-encoded password is in the proxy output').toBe(false);
    }
    for (const token of ts.tokens) expect(out.includes(token), 'a registry token is in the proxy output').toBe(false);
  });
});
