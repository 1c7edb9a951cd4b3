/** The command line as a function: flags, their environment variables, defaults, and the one-line errors of main(). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { readSettings } from '../../src/cli/settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'ocp-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CONFIG = join(dir, 'connectors.yaml');
writeFileSync(
  CONFIG,
  `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata: {name: harbor}
spec: {connectorClassName: oci, address: https://harbor.example.com}
`,
);

async function settings(argv: string[], env: Record<string, string> = {}) {
  const s = await readSettings(argv, env);
  if (!s) throw new Error('expected settings, got --help');
  return s;
}

/** What main() prints on stderr and the exit code it returns. */
async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number | undefined; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const code = await main(argv, env, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stderr, stdout };
}

describe('readSettings', () => {
  it('defaults', async () => {
    const s = await settings(['--config', CONFIG]);
    expect(s.listen).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(s.upstreamOptions).toEqual({
      connectTimeout: 10_000,
      headersTimeout: 30_000,
      bodyTimeout: 300_000,
      tokenTimeout: 15_000,
      bulkConnections: 128,
      smallConnections: 64,
      queueTimeout: 10_000,
    });
    expect([s.clientIdleTimeout, s.manifestMaxBytes, s.manifestBufferBytes, s.grace]).toEqual([60_000, 4 * 1024 * 1024, 64 * 1024 * 1024, 30_000]);
    expect([s.addressMode, s.servicePort, s.level, s.trustProxy, s.access.mode]).toEqual(['path', 80, 'info', false, 'none']);
    expect(s.health).toEqual({ intervalMs: 60_000, timeoutMs: 10_000 });
    expect(s.cfg.connectors.map((c) => c.name)).toEqual(['harbor']);
  });

  it('each flag falls back to its environment variable; a flag wins over it', async () => {
    const env = {
      OCP_CONFIG: CONFIG,
      OCP_CLIENT_IDLE_TIMEOUT: '1500',
      OCP_QUEUE_TIMEOUT: '700',
      OCP_BULK_CONNECTIONS: '4',
      OCP_SMALL_CONNECTIONS: '2',
      OCP_TRUST_PROXY: 'true',
      OCP_LISTEN: '[::1]:6000',
    };
    const s = await settings(['--queue-timeout', '900'], env);
    expect([s.clientIdleTimeout, s.upstreamOptions.queueTimeout, s.upstreamOptions.bulkConnections, s.upstreamOptions.smallConnections]).toEqual([1500, 900, 4, 2]);
    expect(s.trustProxy).toBe(true);
    expect(s.listen).toEqual({ host: '::1', port: 6000 });
    expect((await settings(['--config', CONFIG, '--trust-proxy'])).trustProxy).toBe(true);
    expect(s.configFile).toBe(CONFIG);
  });

  it('--health-interval 0 checks only on changes', async () => {
    expect((await settings(['--config', CONFIG, '--health-interval', '0'])).health.intervalMs).toBe(0);
  });

  it('--help is no settings at all', async () => {
    expect(await readSettings(['--help'], {})).toBeUndefined();
    expect(await readSettings(['-h'], {})).toBeUndefined();
  });

  const bad: [argv: string[], message: string][] = [
    [['--client-idle-timeout', '0'], '--client-idle-timeout: "0" must be a positive number of milliseconds'],
    [['--bulk-connections', 'many'], '--bulk-connections: "many" must be a positive number of connections'],
    [['--manifest-buffer-bytes=-1'], '--manifest-buffer-bytes: "-1" must be a positive number of bytes'],
    [['--listen', 'localhost'], '--listen: "localhost" must be host:port, e.g. 127.0.0.1:5000 or [::1]:5000'],
    [['--address-mode', 'mirror'], '--address-mode: must be host or path, got "mirror"'],
    [['--access', 'open'], '--access: must be one of none, static, kubernetes, got "open"'],
    [['--log-level', 'loud'], '--log-level: unknown level "loud"'],
    [['--service-port', '70000'], '--service-port: must be a port number'],
    [['--source', 'etcd'], '--source: must be file or kubernetes, got "etcd"'],
    [['--upstream', 'https://r.example.com'], '--config and --upstream are exclusive; give one'],
    [['--access', 'static'], `--access static: no access tokens: give --access-tokens <file> or put Secrets of type oci-connector-proxy/access-token in ${CONFIG}`],
    [['--default-connector', 'default/nope'], `--default-connector: default/nope is not in ${CONFIG} (have default/harbor)`],
  ];
  it.each(bad)('%j is refused: %s', async (argv, message) => {
    await expect(readSettings(['--config', CONFIG, ...argv], {})).rejects.toThrow(message);
  });
});

describe('main', () => {
  it('a bad value: exit 2 and one line naming the flag', async () => {
    expect(await run(['--config', CONFIG, '--queue-timeout', 'soon'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'oci-connector-proxy: --queue-timeout: "soon" must be a positive number of milliseconds\n',
    });
  });

  it('an unknown flag: exit 2, the problem, then the usage', async () => {
    const r = await run(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("oci-connector-proxy: Unknown option '--bogus'");
    expect(r.stderr).toContain('--client-idle-timeout <ms>');
  });

  it('a bad configuration file: exit 2 with the file, document and field', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: r}\nspec: {connectorClassName: git, address: https://r.example.com}\n');
    expect((await run(['--config', broken])).stderr).toBe(`oci-connector-proxy: ${broken}: document 1 (Connector default/r): spec.connectorClassName: must be "oci", got "git"\n`);
  });

  it('--help prints the usage with every flag and its variable', async () => {
    const r = await run(['--help']);
    expect(r.code).toBeUndefined();
    for (const flag of ['--client-idle-timeout <ms>', 'OCP_CLIENT_IDLE_TIMEOUT', '--queue-timeout <ms>', '--manifest-buffer-bytes <n>', '--small-connections <n>'])
      expect(r.stdout).toContain(flag);
  });

  it('render prints a file, and refuses an unknown one with one line', async () => {
    expect((await run(['render', 'daemon.json', '--config', CONFIG, '--mode', 'path', '--proxy-host', 'proxy:5000'])).stdout).toBe(
      '{\n  "insecure-registries": [\n    "http://proxy:5000"\n  ]\n}\n',
    );
    expect(await run(['render', 'nope.txt', '--config', CONFIG])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'oci-connector-proxy: render: name one file of config.json, daemon.json, buildkitd.toml, hosts.toml, registries.conf, mirror-hosts.toml, mirror-registries.conf, mirror-daemon.json, mirror-buildkitd.toml, mirror-config.json, or mirrors --dir <dir>\n',
    });
  });
});
