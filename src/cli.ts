#!/usr/bin/env node
/**
 * Start-up: flags and environment, the connector file, the server, signals.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Connector, upstreamOriginFor } from './connectors/model.ts';
import { ConfigError, parseConnectorsYaml } from './connectors/parse.ts';
import { CONFIGURATION_FILES, isConfigurationFile, proxyAddress, renderConfiguration } from './configurations/render.ts';
import { createLogger } from './observability/logger.ts';
import { buildServer } from './server.ts';

const USAGE = `Usage: oci-connector-proxy [options]

  --config <file>           Connector and Secret YAML documents          (OCP_CONFIG)
  --upstream <url>          one anonymous connector for this registry     (OCP_UPSTREAM)
  --listen <host:port>      address to listen on, default 127.0.0.1:5000  (OCP_LISTEN)
  --log-level <level>       trace|debug|info|warn|error, default info     (OCP_LOG_LEVEL)
  --connect-timeout <ms>    upstream connect timeout, default 10000        (OCP_CONNECT_TIMEOUT)
  --headers-timeout <ms>    upstream response-header timeout, default 30000 (OCP_HEADERS_TIMEOUT)
  --body-timeout <ms>       upstream body idle timeout, default 300000     (OCP_BODY_TIMEOUT)
  --token-timeout <ms>      token server exchange timeout, default 15000  (OCP_TOKEN_TIMEOUT)
  --max-manifest-bytes <n>  largest manifest a client may PUT, default 4194304 (OCP_MAX_MANIFEST_BYTES)
  --shutdown-grace <ms>     time in-flight requests get on SIGTERM, default 30000 (OCP_SHUTDOWN_GRACE)
  --trust-proxy             honour X-Forwarded-Proto/Host from a fronting proxy (OCP_TRUST_PROXY=true)
  -h, --help                this text

With neither --config nor --upstream the proxy serves Docker Hub anonymously.

       oci-connector-proxy render <file> --config <file> [--connector <ns>/<name>]
                          [--mode host|path] [--proxy-host <host:port>] [--service-port <port>]

  Prints one client configuration for a connector (default: the first in the file), one of
  ${CONFIGURATION_FILES.join(', ')}.
  Host mode (default) uses the connector's Service name
  c-<name>.<ns>.svc.cluster.local; path mode uses --proxy-host (default 127.0.0.1:5000)
  with the /namespaces/<ns>/connectors/<name> prefix.`;

const FLAGS = {
  config: 'OCP_CONFIG',
  upstream: 'OCP_UPSTREAM',
  listen: 'OCP_LISTEN',
  'log-level': 'OCP_LOG_LEVEL',
  'connect-timeout': 'OCP_CONNECT_TIMEOUT',
  'headers-timeout': 'OCP_HEADERS_TIMEOUT',
  'body-timeout': 'OCP_BODY_TIMEOUT',
  'shutdown-grace': 'OCP_SHUTDOWN_GRACE',
  'token-timeout': 'OCP_TOKEN_TIMEOUT',
  'max-manifest-bytes': 'OCP_MAX_MANIFEST_BYTES',
} as const;

class UsageError extends Error {}

function fail(message: string, code = 2): never {
  process.stderr.write(`oci-connector-proxy: ${message}\n`);
  process.exit(code);
}

function anonymous(name: string, address: string, flag: string): Connector {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new UsageError(`${flag}: ${JSON.stringify(address)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag}: ${JSON.stringify(address)} must start with http:// or https://`);
  if (url.username || url.password) throw new UsageError(`${flag}: must not hold credentials; use --config with a Secret`);
  const { origin, dockerHub } = upstreamOriginFor(url);
  return { namespace: 'default', name, address, upstreamOrigin: origin, dockerHub, credentials: undefined, healthRepository: undefined, params: {} };
}

function loadConnectors(configFile: string | undefined, upstream: string | undefined): Connector[] {
  if (configFile) {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`${configFile}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseConnectorsYaml(text, configFile);
  }
  if (upstream) return [anonymous('upstream', upstream, '--upstream')];
  return [anonymous('dockerhub', 'https://index.docker.io', 'default')];
}

/** `render <file>`: prints one client configuration file of a connector. */
function render(argv: string[]): void {
  let parsed: ReturnType<typeof parseArgs<{ options: Record<string, { type: 'string' }>; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, upstream: { type: 'string' }, connector: { type: 'string' }, mode: { type: 'string' }, 'proxy-host': { type: 'string' }, 'service-port': { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    fail(`render: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  try {
    const file = positionals[0];
    if (!file || positionals.length > 1 || !isConfigurationFile(file)) throw new UsageError(`render: name one file of ${CONFIGURATION_FILES.join(', ')}`);
    const mode = values['mode'] ?? 'host';
    if (mode !== 'host' && mode !== 'path') throw new UsageError(`render --mode: must be host or path, got ${JSON.stringify(mode)}`);
    const connectors = loadConnectors(values['config'] ?? process.env['OCP_CONFIG'], values['upstream'] ?? process.env['OCP_UPSTREAM']);
    const wanted = values['connector'];
    const c = wanted ? connectors.find((x) => `${x.namespace}/${x.name}` === wanted) : connectors[0];
    if (!c) throw new UsageError(`render --connector: ${JSON.stringify(wanted)} is not in the configuration (have ${connectors.map((x) => `${x.namespace}/${x.name}`).join(', ')})`);
    const proxyHost = values['proxy-host'] ?? '127.0.0.1:5000';
    const servicePort = values['service-port'] === undefined ? 80 : Number(values['service-port']);
    if (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535) throw new UsageError('render --service-port: must be a port number');
    process.stdout.write(renderConfiguration(file, proxyAddress(c, mode, proxyHost, servicePort)));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) fail(err.message);
    throw err;
  }
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: ${JSON.stringify(value)} must be host:port, e.g. 127.0.0.1:5000 or [::1]:5000`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function positiveInt(name: string, value: string | undefined, fallback: number, unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name}: ${JSON.stringify(value)} must be a positive number of ${unit}`);
  return n;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'render') {
    render(process.argv.slice(3));
    return;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string' },
        upstream: { type: 'string' },
        listen: { type: 'string' },
        'log-level': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'headers-timeout': { type: 'string' },
        'body-timeout': { type: 'string' },
        'shutdown-grace': { type: 'string' },
        'token-timeout': { type: 'string' },
        'max-manifest-bytes': { type: 'string' },
        'trust-proxy': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values['help']) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const opt = (name: keyof typeof FLAGS): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : process.env[FLAGS[name]] || undefined;
  };

  let connectors: Connector[];
  let listen: { host: string; port: number };
  let timeouts: { connectTimeout: number; headersTimeout: number; bodyTimeout: number; tokenTimeout: number };
  let manifestMaxBytes: number;
  let grace: number;
  const configFile = opt('config');
  const upstream = opt('upstream');
  try {
    if (configFile && upstream) throw new UsageError('--config and --upstream are exclusive; give one');
    connectors = loadConnectors(configFile, upstream);
    listen = parseListen(opt('listen') ?? '127.0.0.1:5000');
    timeouts = {
      connectTimeout: positiveInt('connect-timeout', opt('connect-timeout'), 10_000),
      headersTimeout: positiveInt('headers-timeout', opt('headers-timeout'), 30_000),
      bodyTimeout: positiveInt('body-timeout', opt('body-timeout'), 300_000),
      tokenTimeout: positiveInt('token-timeout', opt('token-timeout'), 15_000),
    };
    manifestMaxBytes = positiveInt('max-manifest-bytes', opt('max-manifest-bytes'), 4 * 1024 * 1024, 'bytes');
    grace = positiveInt('shutdown-grace', opt('shutdown-grace'), 30_000);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) fail(err.message);
    throw err;
  }

  const level = opt('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) fail(`--log-level: unknown level ${JSON.stringify(level)}`);
  const logger = createLogger(level);
  const trustProxy = values['trust-proxy'] === true || process.env['OCP_TRUST_PROXY'] === 'true';
  const server = buildServer({ connectors, logger, upstream: timeouts, trustProxy, manifestMaxBytes });

  try {
    await server.app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    fail(`--listen ${listen.host}:${listen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
  logger.info(
    { listen: `${listen.host}:${listen.port}`, connectors: connectors.map((c) => ({ connector: `${c.namespace}/${c.name}`, upstream: c.upstreamOrigin, authenticated: c.credentials !== undefined })) },
    'oci-connector-proxy listening',
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs: grace }, 'shutting down: refusing new connections, finishing in-flight requests');
    const timer = setTimeout(() => {
      logger.warn('shutdown grace period over: exiting with requests still in flight');
      process.exit(1);
    }, grace);
    timer.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
