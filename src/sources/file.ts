/**
 * The file source: connectors (and static proxy tokens) from the product's YAML, read at
 * start-up and watched afterwards. A change is applied only when the whole file parses; an
 * invalid change is reported and the previous configuration keeps serving.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type AccessToken, accessTokensFrom } from '../access/tokens.ts';
import { ConfigError, parseDocuments, secretsOf } from '../connectors/documents.ts';
import { type Connector, redactAddress, upstreamOriginFor } from '../connectors/model.ts';
import { connectorsFrom } from '../connectors/parse.ts';

export interface FileSourceOptions {
  /** Connector and Secret documents. */
  configFile: string | undefined;
  /** Access-token Secrets only. */
  tokensFile: string | undefined;
  /** Without a config file: one anonymous connector for this registry (default Docker Hub). */
  upstream: string | undefined;
  /** Connectors come from elsewhere (the Kubernetes source): no default connector. */
  tokensOnly?: boolean;
}

export interface Configuration {
  connectors: Connector[];
  accessTokens: AccessToken[];
  /** Hash of the files' contents: unchanged files are not applied again. */
  fingerprint: string;
}

/** What one configuration file holds. */
export interface ParsedConfig {
  connectors: Connector[];
  /** Static proxy tokens, from Secrets of type oci-connector-proxy/access-token. */
  accessTokens: AccessToken[];
}

/**
 * Parses a file of Connector and Secret documents. `connectorsRequired: false` accepts a file
 * with access-token Secrets only (the --access-tokens file).
 */
export function parseConfig(text: string, file: string, options: { connectorsRequired?: boolean } = {}): ParsedConfig {
  const docs = parseDocuments(text, file);
  const secrets = secretsOf(docs, file);
  const accessTokens = accessTokensFrom(docs, file);
  return { connectors: connectorsFrom(docs, secrets, file, options.connectorsRequired !== false), accessTokens };
}

export function anonymousConnector(name: string, address: string, what: string): Connector {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ConfigError(`${what}: ${JSON.stringify(redactAddress(address))} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${what}: ${JSON.stringify(redactAddress(address))} must start with http:// or https://`);
  if (url.username || url.password) throw new ConfigError(`${what}: must not hold credentials; use --config with a Secret`);
  const { origin, dockerHub } = upstreamOriginFor(url);
  return { namespace: 'default', name, address, upstreamOrigin: origin, dockerHub, credentials: undefined, healthRepository: undefined, params: {} };
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads and checks the whole configuration; throws ConfigError naming file, document, field and problem. */
export function loadConfiguration(o: FileSourceOptions): Configuration {
  const hash = createHash('sha256');
  let connectors: Connector[];
  const accessTokens: AccessToken[] = [];
  if (o.configFile) {
    const text = read(o.configFile);
    hash.update(text);
    const parsed = parseConfig(text, o.configFile);
    connectors = parsed.connectors;
    accessTokens.push(...parsed.accessTokens);
  } else if (o.tokensOnly) {
    connectors = [];
  } else if (o.upstream) {
    connectors = [anonymousConnector('upstream', o.upstream, '--upstream')];
  } else {
    connectors = [anonymousConnector('dockerhub', 'https://index.docker.io', 'default')];
  }
  if (o.tokensFile) {
    const text = read(o.tokensFile);
    hash.update('\0').update(text);
    const parsed = parseConfig(text, o.tokensFile, { connectorsRequired: false });
    if (parsed.connectors.length > 0) throw new ConfigError(`${o.tokensFile}: holds Connector documents; put them in the --config file (this file is for access-token Secrets)`);
    if (parsed.accessTokens.length === 0) throw new ConfigError(`${o.tokensFile}: no Secret of type oci-connector-proxy/access-token found`);
    const seen = new Set(accessTokens.map((t) => t.sha256.toString('hex')));
    for (const t of parsed.accessTokens) {
      if (seen.has(t.sha256.toString('hex'))) throw new ConfigError(`${o.tokensFile}: Secret ${t.id}: data.token: the same token is also defined in ${o.configFile}`);
      accessTokens.push(t);
    }
  }
  return { connectors, accessTokens, fingerprint: hash.digest('hex') };
}
