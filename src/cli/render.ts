/**
 * `render <file>`: one client configuration file of a connector, printed (the text is returned).
 * `render mirrors --dir <dir>`: containerd's certs.d tree for every connector at once
 * (`<dir>/<registry>/hosts.toml`), as a node is configured once for all its registries.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMirrorFile, MIRROR_FILES, MirrorError, mirrorsOf, renderMirror } from '../configurations/mirrors.ts';
import { parseArgs } from 'node:util';
import { type AddressOptions, CONFIGURATION_FILES, isConfigurationFile, proxyAddress, renderConfiguration } from '../configurations/render.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { loadConfiguration } from '../sources/file.ts';
import { UsageError } from './flags.ts';

const OPTIONS = {
  config: { type: 'string' },
  upstream: { type: 'string' },
  connector: { type: 'string' },
  mode: { type: 'string' },
  'proxy-host': { type: 'string' },
  'service-port': { type: 'string' },
  'token-file': { type: 'string' },
  username: { type: 'string' },
  dir: { type: 'string' },
  tls: { type: 'boolean' },
} as const;

const FILES = [...CONFIGURATION_FILES, ...MIRROR_FILES];

/** The file's text; throws UsageError or ConfigError. */
export function render(argv: readonly string[], env: Record<string, string | undefined>): string {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`render: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  const known = file === 'mirrors' || (file !== undefined && (isConfigurationFile(file) || isMirrorFile(file)));
  if (!file || positionals.length > 1 || !known) throw new UsageError(`render: name one file of ${FILES.join(', ')}, or mirrors --dir <dir>`);
  const mode = values.mode ?? 'host';
  if (mode !== 'host' && mode !== 'path') throw new UsageError(`render --mode: must be host or path, got ${JSON.stringify(mode)}`);
  const { connectors } = loadConfiguration({ configFile: values.config ?? env['OCP_CONFIG'], upstream: values.upstream ?? env['OCP_UPSTREAM'], tokensFile: undefined });
  const servicePort = values['service-port'] === undefined ? undefined : Number(values['service-port']);
  if (servicePort !== undefined && (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535)) throw new UsageError('render --service-port: must be a port number');
  const where: AddressOptions = { mode, proxyHost: values['proxy-host'] ?? '127.0.0.1:5000', servicePort, tls: values.tls ?? false };
  const credential = tokenCredential(values['token-file'], values.username);
  if (file === 'mirrors') return writeMirrors(values.dir, connectors, where, credential);
  const wanted = values.connector;
  const c = wanted ? connectors.find((x) => connectorKey(x) === wanted) : connectors[0];
  if (!c) throw new UsageError(`render --connector: ${JSON.stringify(wanted)} is not in the configuration (have ${connectors.map(connectorKey).join(', ')})`);
  if (isConfigurationFile(file)) return renderConfiguration(file, proxyAddress(c, where), credential);
  try {
    return renderMirror(file as (typeof MIRROR_FILES)[number], mirrorsOf(c, where)[0]!, credential);
  } catch (err) {
    if (err instanceof MirrorError) throw new UsageError(`render: connector ${connectorKey(c)}: ${err.message}`);
    throw err;
  }
}

/** Writes `<dir>/<registry>/hosts.toml` for every registry of every connector; a registry claimed twice goes to the first. Returns what it did. */
function writeMirrors(dir: string | undefined, connectors: readonly Connector[], where: AddressOptions, credential: { username: string; password: string } | undefined): string {
  if (!dir) throw new UsageError('render mirrors: --dir <dir> is required (the certs.d directory to write, e.g. /etc/containerd/certs.d)');
  const written: string[] = [];
  const seen = new Set<string>();
  for (const c of connectors) {
    for (const m of mirrorsOf(c, where)) {
      if (seen.has(m.registry)) continue;
      seen.add(m.registry);
      mkdirSync(join(dir, m.registry), { recursive: true });
      writeFileSync(join(dir, m.registry, 'hosts.toml'), renderMirror('mirror-hosts.toml', m, credential));
      written.push(`${join(dir, m.registry, 'hosts.toml')}  (${connectorKey(c)})`);
    }
  }
  return written.join('\n') + '\n';
}

/** The proxy token of --token-file, as the password of --username (default "token"). */
function tokenCredential(tokenFile: string | undefined, username: string | undefined): { username: string; password: string } | undefined {
  if (tokenFile === undefined) return undefined;
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`render --token-file: ${tokenFile}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!token) throw new UsageError(`render --token-file: ${tokenFile} is empty`);
  return { username: username ?? 'token', password: token };
}
