/**
 * The upstream client of one connector: its connection pools (an undici Agent per traffic
 * class) and its chain of layers, composed here and only here, outermost first:
 *
 *   1. admission   admission.ts  a slot of the request's traffic class, held until its body ends
 *   2. redirects   redirect.ts   follow to storage without credentials, or pass
 *   3. auth        auth.ts       challenge, token or Basic, one replay on 401
 *   4. scrub       scrub.ts      secrets out of whatever the registry says back
 *   5. exchange    below         one HTTP exchange with the registry's origin
 *
 * A pull-through cache serves before the chain (a handler in src/proxy/); per-upstream TLS
 * (tls.ts) is the agents' `connect` option.
 */
import { Agent } from 'undici';
import type { Connector } from '../connectors/model.ts';
import { connectorKey } from '../connectors/model.ts';
import { allowedRealmHosts, redirectPolicy } from '../connectors/params.ts';
import type { ConnectorSet } from '../connectors/set.ts';
import { admissionLayer, Bulkhead } from './admission.ts';
import { Authenticator } from './auth.ts';
import type { FailureContext } from './failures.ts';
import { redirectLayer } from './redirect.ts';
import { credentialScrubber, scrubLayer } from './scrub.ts';
import { connectOption } from './tls.ts';
import type { TokenService } from './token.ts';
import { compose, type Send, type Traffic } from './types.ts';

export interface UpstreamOptions {
  /** ms to establish a TCP/TLS connection. */
  connectTimeout: number;
  /** ms from sending the request until response headers arrive. */
  headersTimeout: number;
  /** ms of silence allowed while a response body streams. */
  bodyTimeout: number;
  /** ms for one exchange with a token server. */
  tokenTimeout: number;
  /** Upstream connections (and admission slots) for blob transfers, per connector. */
  bulkConnections: number;
  /** Upstream connections (and admission slots) for everything else, per connector. */
  smallConnections: number;
  /** ms a request may wait for a free slot before it is answered 503. */
  queueTimeout: number;
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  connectTimeout: 10_000,
  headersTimeout: 30_000,
  bodyTimeout: 300_000,
  tokenTimeout: 15_000,
  bulkConnections: 128,
  smallConnections: 64,
  queueTimeout: 10_000,
};

/** Token exchanges share the small pool's agent; these connections are added to it for them. */
const TOKEN_CONNECTIONS = 8;

/** A connector set whose clients are upstream clients: what the proxy serves from. */
export type Connectors = ConnectorSet<UpstreamClient>;

export class UpstreamClient implements FailureContext {
  readonly connector: Connector;
  readonly key: string;
  readonly host: string;
  readonly anonymous: boolean;
  /** Every request to the upstream goes through this: the composed chain. */
  readonly send: Send;
  readonly bulkheads: Readonly<Record<Traffic, Bulkhead>>;
  private readonly agents: Readonly<Record<Traffic, Agent>>;
  private readonly auth: Authenticator;

  constructor(connector: Connector, options: UpstreamOptions, tokens: TokenService) {
    this.connector = connector;
    this.key = connectorKey(connector);
    this.host = new URL(connector.upstreamOrigin).host;
    this.anonymous = connector.credentials === undefined;
    const agent = (connections: number): Agent =>
      new Agent({
        connect: connectOption(connector, options.connectTimeout),
        allowH2: false,
        headersTimeout: options.headersTimeout,
        bodyTimeout: options.bodyTimeout,
        connections,
        keepAliveTimeout: 30_000,
      });
    this.agents = { bulk: agent(options.bulkConnections), small: agent(options.smallConnections + TOKEN_CONNECTIONS) };
    this.bulkheads = {
      bulk: new Bulkhead('bulk', options.bulkConnections, options.queueTimeout),
      small: new Bulkhead('small', options.smallConnections, options.queueTimeout),
    };
    const registry = compose([scrubLayer(credentialScrubber(connector.credentials))], this.exchange);
    this.auth = new Authenticator({ connector, key: this.key, tokens, dispatcher: this.agents.small, allowedRealmHosts: allowedRealmHosts(connector), inner: registry });
    this.send = compose([admissionLayer(this.bulkheads), redirectLayer(redirectPolicy(connector), connector.upstreamOrigin, this.agents.bulk)], this.auth.send);
  }

  /**
   * The upstream has answered GET /v2/ and its challenge is known (one ping shared by all
   * callers): what the proxy needs to answer a client's GET /v2/ itself.
   */
  ready(signal?: AbortSignal): Promise<void> {
    return this.auth.ready(signal);
  }

  /** The innermost layer: one HTTP exchange with the upstream origin, on the pool of the request's class. */
  private readonly exchange: Send = async (req) => {
    const res = await this.agents[req.traffic].request({
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
    const res = await this.agents.small.request({ origin: this.connector.upstreamOrigin, path: '/v2/', method: 'GET', signal });
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
    }).then(() => this.close());
    return this.retiring;
  }

  /** True once the client's connection pools are closed. */
  get closed(): boolean {
    return this.agents.bulk.closed && this.agents.small.closed;
  }

  async close(): Promise<void> {
    await Promise.all([this.agents.bulk.close(), this.agents.small.close()]);
  }
}
