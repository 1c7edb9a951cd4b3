/**
 * The upstream client of one connector: an undici Agent (keep-alive pools per origin) and the
 * chain of layers that every request to the upstream goes through.
 */
import { Agent } from 'undici';
import type { Connector } from '../connectors/model.ts';
import { connectorKey } from '../connectors/model.ts';
import { Authenticator } from './auth.ts';
import { type RedirectPolicy, redirectLayer } from './redirect.ts';
import type { TokenService } from './token.ts';
import type { Send, UpstreamRequest } from './types.ts';

export interface UpstreamOptions {
  /** ms to establish a TCP/TLS connection. */
  connectTimeout: number;
  /** ms from sending the request until response headers arrive. */
  headersTimeout: number;
  /** ms of silence allowed while a response body streams. */
  bodyTimeout: number;
  /** Upper bound of connections per upstream origin. */
  connections: number;
  /** ms for one exchange with a token server. */
  tokenTimeout: number;
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  connectTimeout: 10_000,
  headersTimeout: 30_000,
  bodyTimeout: 300_000,
  connections: 128,
  tokenTimeout: 15_000,
};

/** Connector parameters (`spec.params`) the upstream client reads. */
export function redirectPolicy(c: Connector): RedirectPolicy {
  return c.params['redirects'] === 'pass' ? 'pass' : 'follow';
}

export function allowedRealmHosts(c: Connector): string[] {
  return (c.params['allowedRealmHosts'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
}

export class UpstreamClient {
  readonly connector: Connector;
  readonly key: string;
  readonly host: string;
  readonly agent: Agent;
  /** The layers every request goes through: auth → redirects → the upstream. */
  readonly send: Send;

  constructor(connector: Connector, options: UpstreamOptions, tokens: TokenService) {
    this.connector = connector;
    this.key = connectorKey(connector);
    this.host = new URL(connector.upstreamOrigin).host;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeout },
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
      connections: options.connections,
      keepAliveTimeout: 30_000,
    });
    const auth = (this.auth = new Authenticator({
      connector,
      key: this.key,
      host: this.host,
      tokens,
      dispatcher: this.agent,
      allowedRealmHosts: allowedRealmHosts(connector),
    }));
    this.send = auth.layer(redirectLayer(this.direct, redirectPolicy(connector), connector.upstreamOrigin, this.agent));
  }

  private readonly auth: Authenticator;

  /**
   * The upstream has answered GET /v2/ and its challenge is known (one ping shared by all
   * callers): what the proxy needs to answer a client's GET /v2/ itself.
   */
  ready(signal?: AbortSignal): Promise<void> {
    return this.auth.ready(signal);
  }

  /** The innermost layer: one HTTP exchange with the upstream origin. */
  private readonly direct: Send = async (req: UpstreamRequest) => {
    const res = await this.agent.request({
      origin: this.connector.upstreamOrigin,
      path: req.path,
      method: req.method as 'GET',
      headers: req.headers,
      body: req.body,
      signal: req.signal,
      // undici closes the connection after every HEAD unless told not to (against servers
      // that send a body anyway); registries do not, and a new connection per HEAD costs.
      reset: false,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  };

  /** GET /v2/ without credentials (the liveness probe): the status code; throws on network errors. */
  async ping(signal: AbortSignal): Promise<number> {
    const res = await this.agent.request({ origin: this.connector.upstreamOrigin, path: '/v2/', method: 'GET', signal });
    res.body.on('error', () => {}).resume();
    return res.statusCode;
  }

  private inflight = 0;
  private retiring: Promise<void> | undefined;
  private retired: (() => void) | undefined;

  /** A request is using this client (from choosing it until its answer is done). */
  acquire(): void {
    this.inflight++;
  }

  release(): void {
    this.inflight--;
    if (this.inflight === 0 && this.retired) this.retired();
  }

  /**
   * Closes the client once no request holds it: a connector-set swap must not fail requests
   * that chose this client but have not reached the upstream yet (a manifest body still
   * arriving, an access review, a token exchange).
   */
  retire(): Promise<void> {
    this.retiring ??= new Promise<void>((resolve) => {
      this.retired = resolve;
      if (this.inflight === 0) resolve();
    }).then(() => this.agent.close());
    return this.retiring;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
