/** `render <file>`: one client configuration file of a connector, printed (the text is returned). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CONFIGURATION_FILES, isConfigurationFile, proxyAddress, renderConfiguration } from '../configurations/render.ts';
import { connectorKey } from '../connectors/model.ts';
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
} as const;

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
  if (!file || positionals.length > 1 || !isConfigurationFile(file)) throw new UsageError(`render: name one file of ${CONFIGURATION_FILES.join(', ')}`);
  const mode = values.mode ?? 'host';
  if (mode !== 'host' && mode !== 'path') throw new UsageError(`render --mode: must be host or path, got ${JSON.stringify(mode)}`);
  const { connectors } = loadConfiguration({ configFile: values.config ?? env['OCP_CONFIG'], upstream: values.upstream ?? env['OCP_UPSTREAM'], tokensFile: undefined });
  const wanted = values.connector;
  const c = wanted ? connectors.find((x) => connectorKey(x) === wanted) : connectors[0];
  if (!c) throw new UsageError(`render --connector: ${JSON.stringify(wanted)} is not in the configuration (have ${connectors.map(connectorKey).join(', ')})`);
  const servicePort = values['service-port'] === undefined ? 80 : Number(values['service-port']);
  if (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535) throw new UsageError('render --service-port: must be a port number');
  return renderConfiguration(file, proxyAddress(c, mode, values['proxy-host'] ?? '127.0.0.1:5000', servicePort), tokenCredential(values['token-file'], values.username));
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
