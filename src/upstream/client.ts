/**
 * The upstream client of one connector: an undici Agent (keep-alive pools per origin) and the
 * chain of layers that every request to the upstream goes through.
 */
import { Agent } from 'undici';
import type { Connector } from '../connectors/model.ts';
import { connectorKey } from '../connectors/model.ts';
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
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  connectTimeout: 10_000,
  headersTimeout: 30_000,
  bodyTimeout: 300_000,
  connections: 128,
};

export class UpstreamClient {
  readonly connector: Connector;
  readonly key: string;
  readonly host: string;
  readonly agent: Agent;
  readonly send: Send;

  constructor(connector: Connector, options: UpstreamOptions) {
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
    this.send = this.direct;
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
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  };

  async close(): Promise<void> {
    await this.agent.close();
  }
}
