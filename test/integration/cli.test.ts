/** The real CLI as its own process: start-up errors are one line on stderr, and a good config serves and stops cleanly. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectorDocument as connector } from '../helpers/config-files.ts';
import { freePort, waitFor } from '../helpers/ports.ts';
import { ROOT } from '../helpers/proxy.ts';

const NODE = join(ROOT, 'scripts/node');
const CLI = join(ROOT, 'dist/cli.js');
const SPAWN_TIMEOUT_MS = 20_000;
const PREFIX = 'oci-connector-proxy: ';
const API = 'apiVersion: connectors.alauda.io/v1alpha1';
const TYPE = 'cpaas.io/distribution-registry-token';

const dir = mkdtempSync(join(tmpdir(), 'ocp-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The environment without any OCP_* setting of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OCP_')) env[k] = v;
  return { ...env, ...extra };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; kills it (by its own pid) and fails if it runs longer than the bound. */
function run(args: string[], env: Record<string, string> = {}, timeoutMs = SPAWN_TIMEOUT_MS): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** True when something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function expectOneLine(stderr: string, line: string): void {
  expect(stderr).toBe(`${PREFIX}${line}\n`);
  expect(stderr.split('\n')).toHaveLength(2);
}

const good = (spec = '') => connector('r', `  connectorClassName: oci\n  address: https://r.example.com\n${spec}`);

describe('cli: a bad config file stops start-up with one line on stderr', () => {
  const cases: [name: string, text: string, problem: (path: string) => string][] = [
    [
      'class not oci',
      connector('r', '  connectorClassName: git\n  address: https://r.example.com\n'),
      (f) => `${f}: document 1 (Connector default/r): spec.connectorClassName: must be "oci", got "git"`,
    ],
    [
      'address ftp://',
      connector('r', '  connectorClassName: oci\n  address: ftp://r.example.com\n'),
      (f) => `${f}: document 1 (Connector default/r): spec.address: "ftp://r.example.com" must start with http:// or https://`,
    ],
    [
      'address with credentials',
      connector('r', '  connectorClassName: oci\n  address: https://admin:hunter2@r.example.com\n'),
      (f) => `${f}: document 1 (Connector default/r): spec.address: must not hold credentials; put them in the Secret named by spec.auth.secretRef`,
    ],
    ['address missing', connector('r', '  connectorClassName: oci\n'), (f) => `${f}: document 1 (Connector default/r): spec.address: missing`],
    [
      'secretRef to a missing Secret',
      good('  auth:\n    name: tokenAuth\n    secretRef:\n      name: nope\n'),
      (f) => `${f}: document 1 (Connector default/r): spec.auth.secretRef: Secret default/nope is not defined in this file`,
    ],
    [
      'Secret of the wrong type, in document 2',
      `${good('  auth:\n    secretRef:\n      name: s\n')}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\nstringData:\n  username: u\n  password: p\n`,
      (f) => `${f}: document 2 (Secret default/s): type: must be "${TYPE}", got "Opaque"`,
    ],
    [
      'invalid base64',
      `${good('  auth:\n    secretRef:\n      name: s\n')}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: ${TYPE}\ndata:\n  username: YWRtaW4=\n  password: YWRtaW4\n`,
      (f) => `${f}: document 2 (Secret default/s): data.password: not valid base64`,
    ],
    ['auth.name not tokenAuth', good('  auth:\n    name: oauth2\n'), (f) => `${f}: document 1 (Connector default/r): spec.auth.name: must be "tokenAuth", got "oauth2"`],
    [
      'invalid repository param',
      good('  auth:\n    params:\n    - name: repository\n      value: Library/Ubuntu\n'),
      (f) => `${f}: document 1 (Connector default/r): spec.auth.params[repository]: invalid repository name "Library/Ubuntu"`,
    ],
  ];
  it.each(cases)('%s', async (name, text, problem) => {
    const path = file(`${name.replace(/\W+/g, '-')}.yaml`, text);
    const port = await freePort();
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${port}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, problem(path));
    expect(exit.stdout).toBe('');
    expect(await listening(port)).toBe(false);
  });

  it('invalid YAML names the file, document, line and column', async () => {
    const path = file('invalid-yaml.yaml', `${good()}---\nkind: Connector\nmetadata: {name: x\nspec: 1\n`);
    const port = await freePort();
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${port}`]);
    expect(exit.code).toBe(2);
    expect(exit.stderr.startsWith(`${PREFIX}${path}: document 2 (line 11, column 1): invalid YAML: `), exit.stderr).toBe(true);
    expect(exit.stderr.split('\n')).toHaveLength(2);
    expect(await listening(port)).toBe(false);
  });

  it('duplicate Connector names name the field too', async () => {
    const path = file('duplicate.yaml', `${good()}---\n${good()}`);
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expect(exit.stderr.split('\n')).toHaveLength(2);
    expect(exit.stderr).toContain(`${path}: document 2 (Connector default/r): `);
    expect(exit.stderr).toMatch(/: document 2 \(Connector default\/r\): metadata\.name: .*already defined in document 1\n$/);
  });

  it('a file with no Connector', async () => {
    const path = file('empty.yaml', '# nothing\n');
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, `${path}: no Connector document found`);
  });

  it('a config file that does not exist', async () => {
    const path = join(dir, 'missing.yaml');
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, `${path}: cannot read: ENOENT`);
  });

  it('a bad config named by OCP_CONFIG', async () => {
    const path = file('env.yaml', connector('r', '  connectorClassName: git\n  address: https://r.example.com\n'));
    const exit = await run(['--listen', `127.0.0.1:${await freePort()}`], { OCP_CONFIG: path });
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, `${path}: document 1 (Connector default/r): spec.connectorClassName: must be "oci", got "git"`);
  });

  it.each([
    ['https://admin:hunter2@r.example.com', 'spec.address: must not hold credentials'],
    ['ftp://admin:hunter2@r.example.com', 'spec.address: "ftp://***@r.example.com" must start with http:// or https://'],
    ['https://admin:hunter2@', 'spec.address: "https://***@" is not a URL'],
  ])('never echoes a password from the address %s', async (address, problem) => {
    const path = file('creds.yaml', connector('r', `  connectorClassName: oci\n  address: ${address}\n`));
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(problem);
    expect(exit.stderr + exit.stdout).not.toContain('hunter2');
  });

  it('never echoes a password from --upstream', async () => {
    const exit = await run(['--upstream', 'ftp://admin:hunter2@x.example', '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, '--upstream: "ftp://***@x.example" must start with http:// or https://');
  });
});

describe('cli: flags', () => {
  const goodConfig = () => file('flags.yaml', good());

  const badListen = ['nope', '127.0.0.1', '127.0.0.1:70000', '127.0.0.1:abc', '127.0.0.1:', '::1:5000', 'a b:5000'];
  it.each(badListen)('--listen %j is refused before anything listens', async (value) => {
    const exit = await run(['--config', goodConfig(), '--listen', value]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, `--listen: ${JSON.stringify(value)} must be host:port, e.g. 127.0.0.1:5000 or [::1]:5000`);
    expect(exit.stdout).toBe('');
  });

  it('--listen on a port already in use exits 1 with one line', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address() as { port: number };
    try {
      const exit = await run(['--config', goodConfig(), '--listen', `127.0.0.1:${port}`]);
      expect(exit.code).toBe(1);
      expectOneLine(exit.stderr, `--listen 127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('--config and --upstream together', async () => {
    const port = await freePort();
    const exit = await run(['--config', goodConfig(), '--upstream', 'http://127.0.0.1:5000', '--listen', `127.0.0.1:${port}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, '--config and --upstream are exclusive; give one');
    expect(await listening(port)).toBe(false);
  });

  it('--config with OCP_UPSTREAM in the environment', async () => {
    const exit = await run(['--config', goodConfig(), '--listen', `127.0.0.1:${await freePort()}`], { OCP_UPSTREAM: 'http://127.0.0.1:5000' });
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, '--config and --upstream are exclusive; give one');
  });

  const badUpstream: [value: string, line: string][] = [
    ['ftp://r.example.com', '--upstream: "ftp://r.example.com" must start with http:// or https://'],
    ['not a url', '--upstream: "not a url" is not a URL'],
    ['https://u:p@r.example.com', '--upstream: must not hold credentials; use --config with a Secret'],
  ];
  it.each(badUpstream)('--upstream %j', async (value, line) => {
    const exit = await run(['--upstream', value, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, line);
  });

  const badNumbers: [flag: string, value: string][] = [
    ['--connect-timeout', '0'],
    ['--headers-timeout', 'abc'],
    ['--body-timeout', '1.5'],
    ['--shutdown-grace', '0'],
  ];
  it.each(badNumbers)('%s %s', async (flag, value) => {
    const exit = await run(['--config', goodConfig(), '--listen', `127.0.0.1:${await freePort()}`, flag, value]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, `${flag}: ${JSON.stringify(value)} must be a positive number of milliseconds`);
  });

  it('an unknown flag exits 2, names the flag and prints the usage', async () => {
    const port = await freePort();
    const exit = await run(['--bogus', '--listen', `127.0.0.1:${port}`]);
    expect(exit.code).toBe(2);
    expect(exit.stderr.split('\n')[0]).toBe(`${PREFIX}Unknown option '--bogus'`);
    expect(exit.stderr).toContain('Usage: oci-connector-proxy [options]');
    expect(exit.stdout).toBe('');
    expect(await listening(port)).toBe(false);
  });

  it('a positional argument exits 2', async () => {
    const exit = await run(['extra']);
    expect(exit.code).toBe(2);
    expect(exit.stderr.split('\n')[0]).toBe(`${PREFIX}Unexpected argument 'extra'. This command does not take positional arguments`);
  });

  it('an unknown --log-level exits 2', async () => {
    const exit = await run(['--config', goodConfig(), '--listen', `127.0.0.1:${await freePort()}`, '--log-level', 'loud']);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, '--log-level: unknown level "loud"');
  });

  it.each([['--help'], ['-h']])('%s prints the usage on stdout and exits 0', async (flag) => {
    const exit = await run([flag]);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(exit.stdout.startsWith('Usage: oci-connector-proxy [options]\n')).toBe(true);
    for (const f of ['--config <file>', '--upstream <url>', '--listen <host:port>', '--log-level <level>', '--shutdown-grace <ms>', '--trust-proxy', '-h, --help']) {
      expect(exit.stdout).toContain(f);
    }
  });
});

describe('cli: a good config', () => {
  it('serves /healthz and /readyz, checks requests, keeps the password out of its logs, and exits 0 on SIGTERM', async () => {
    const config = file(
      'good.yaml',
      [
        good(),
        connector('harbor', '  connectorClassName: oci\n  address: http://127.0.0.1:9\n  auth:\n    name: tokenAuth\n    secretRef:\n      name: harbor\n', '  namespace: team\n'),
        `apiVersion: v1\nkind: Secret\nmetadata:\n  name: harbor\n  namespace: team\ntype: ${TYPE}\nstringData:\n  username: robot\n  password: s3cr3t-pa55\n`,
      ].join('---\n'),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(NODE, [CLI, '--config', config, '--listen', `127.0.0.1:${port}`, '--shutdown-grace', '5000'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    try {
      let health: Response | undefined;
      await waitFor(
        'the proxy to answer /healthz',
        async () => {
          if (child.exitCode !== null) return true; // it exited: the expectation below says so
          health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
          return true;
        },
        15_000,
      ).catch(() => undefined);
      expect(health, `proxy did not answer; stderr: ${stderr}`).toBeDefined();
      expect(health!.status).toBe(200);
      expect(await health!.json()).toEqual({ status: 'ok' });

      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', connectors: 2 });

      // Checked locally, never forwarded: no upstream is needed for these answers.
      const bad = await fetch(`${url}/v2/Team/App/manifests/latest`, { signal: AbortSignal.timeout(5_000) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_INVALID');
      const unknown = await fetch(`${url}/v2/namespaces/team/connectors/nope/a/manifests/latest`, { signal: AbortSignal.timeout(5_000) });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');

      expect(child.kill('SIGTERM')).toBe(true);
      const exit = await exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(stderr).toBe('');
      expect(stdout).toContain('oci-connector-proxy listening');
      expect(stdout).not.toContain('s3cr3t-pa55');
      expect(await listening(port)).toBe(false);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('render', () => {
  const config = () =>
    file(
      'render.yaml',
      `${API}\nkind: Connector\nmetadata: {name: first}\nspec: {connectorClassName: oci, address: 'http://127.0.0.1:1'}\n---\n${API}\nkind: Connector\nmetadata: {name: harbor, namespace: team-a}\nspec: {connectorClassName: oci, address: 'https://harbor.example.com'}\n`,
    );

  it("prints a connector's buildkitd.toml in host mode", async () => {
    const r = await run(['render', 'buildkitd.toml', '--config', config(), '--connector', 'team-a/harbor', '--service-port', '5000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('insecure-entitlements = ["network.host", "security.insecure"]\n\n[registry."c-harbor.team-a.svc.cluster.local:5000"]\n  http = true\n');
  });

  it('prints daemon.json in path mode for the first connector by default', async () => {
    const r = await run(['render', 'daemon.json', '--config', config(), '--mode', 'path', '--proxy-host', 'proxy:5000']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ 'insecure-registries': ['http://proxy:5000'] });
  });

  it('refuses an unknown file or connector with one line', async () => {
    const bad = await run(['render', 'nope.toml', '--config', config()]);
    expect(bad.code).toBe(2);
    expectOneLine(
      bad.stderr,
      `render: name one file of config.json, daemon.json, buildkitd.toml, hosts.toml, registries.conf, mirror-hosts.toml, mirror-registries.conf, mirror-daemon.json, mirror-buildkitd.toml, mirror-config.json, or mirrors --dir <dir>`,
    );
    const unknown = await run(['render', 'config.json', '--config', config(), '--connector', 'x/y']);
    expect(unknown.code).toBe(2);
    expectOneLine(unknown.stderr, `render --connector: "x/y" is not in the configuration (have default/first, team-a/harbor)`);
  });

  it('prints config.json holding the proxy token from --token-file', async () => {
    const token = file('proxy-token', 'tok-render-0123456789abcdef\n');
    const r = await run(['render', 'config.json', '--config', config(), '--connector', 'team-a/harbor', '--token-file', token, '--username', 'ci']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ auths: { 'c-harbor.team-a.svc.cluster.local': { auth: Buffer.from('ci:tok-render-0123456789abcdef').toString('base64') } } });
    const missing = await run(['render', 'config.json', '--config', config(), '--token-file', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expectOneLine(missing.stderr, `render --token-file: ${join(dir, 'nope')}: cannot read: ENOENT`);
  });
});

describe('cli: access control and connector settings', () => {
  const two = () =>
    file(
      'two.yaml',
      `${API}\nkind: Connector\nmetadata: {name: a}\nspec: {connectorClassName: oci, address: 'http://127.0.0.1:1'}\n---\n${API}\nkind: Connector\nmetadata: {name: b, namespace: team}\nspec: {connectorClassName: oci, address: 'http://127.0.0.1:2', params: [{name: access, value: kubernetes}]}\n`,
    );
  const tokens = () =>
    file(
      'tokens.yaml',
      `apiVersion: v1\nkind: Secret\nmetadata: {name: ci}\ntype: oci-connector-proxy/access-token\nstringData: {token: tok-cli-0123456789abcdef, connectors: 'default/a'}\n`,
    );
  const one = () => file('one.yaml', good());

  // Each runs `--config <file> --listen <free port>` and the flags; `line` is told the config file's path.
  const refused: [what: string, config: () => string, flags: () => string[], line: (config: string) => string][] = [
    [
      '--access static without any token',
      one,
      () => ['--access', 'static'],
      (f) => `--access static: no access tokens: give --access-tokens <file> or put Secrets of type oci-connector-proxy/access-token in ${f}`,
    ],
    ['an unknown --access mode', one, () => ['--access', 'open'], () => '--access: must be one of none, static, kubernetes, got "open"'],
    [
      '--access-tokens while access is none',
      one,
      () => ['--access-tokens', tokens()],
      () => '--access-tokens: given, but --access is none and no connector sets spec.params[access]=static; add --access static',
    ],
    [
      'a connector asking for kubernetes access without the Kubernetes source',
      two,
      () => ['--access', 'static', '--access-tokens', tokens()],
      () => 'connector team/b: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)',
    ],
    [
      '--default-connector naming a connector that is not configured',
      one,
      () => ['--default-connector', 'default/zzz'],
      (f) => `--default-connector: default/zzz is not in ${f} (have default/r)`,
    ],
  ];
  it.each(refused)('%s', async (_what, config, flags, line) => {
    const path = config();
    const exit = await run(['--config', path, '--listen', `127.0.0.1:${await freePort()}`, ...flags()]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, line(path));
  });

  it.each([
    ['--address-mode', 'dns', '--address-mode: must be host or path, got "dns"'],
    ['--health-interval', 'soon', '--health-interval: "soon" must be a positive number of milliseconds'],
    ['--health-timeout', '0', '--health-timeout: "0" must be a positive number of milliseconds'],
  ])('%s %s', async (flag, value, line) => {
    const exit = await run(['--config', one(), '--listen', `127.0.0.1:${await freePort()}`, flag, value]);
    expect(exit.code).toBe(2);
    expectOneLine(exit.stderr, line);
  });

  it('warns loudly when credentials are served without access control on a non-loopback address', async () => {
    const secretful = file(
      'secretful.yaml',
      `${good('  auth:\n    secretRef: {name: s}\n')}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: ${TYPE}\nstringData: {username: u, password: warn-Pa55word-xyz}\n`,
    );
    const port = await freePort();
    const child = spawn(NODE, [CLI, '--config', secretful, '--listen', `0.0.0.0:${port}`, '--health-interval', '0'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the access-control warning', async () => out.includes('ACCESS CONTROL IS OFF'), 10_000).catch(() => undefined);
      const line = out.split('\n').find((l) => l.includes('ACCESS CONTROL IS OFF'));
      expect(line, out).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ level: 40, connectors: ['default/r'] });
      expect(out).not.toContain('warn-Pa55word-xyz');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
