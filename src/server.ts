/**
 * A whole proxy: the core (connectors, tokens, access, health, metrics: core.ts) and its HTTP
 * surface (http/app.ts), with the shutdown that drains both.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type CoreOptions, createCore, type ProxyCore } from './core.ts';
import { createHttp, type HttpOptions } from './http/app.ts';

export interface ServerOptions extends CoreOptions, HttpOptions {
  logger: Logger;
}

export interface ProxyServer extends Omit<ProxyCore, 'upstreamOptions'> {
  app: FastifyInstance;
}

export function buildServer(options: ServerOptions): ProxyServer {
  const core = createCore(options);
  const http = createHttp(core, options.logger, options);
  const { app } = http;
  if (core.health) app.addHook('onReady', async () => void core.health!.update(core.connectors()));
  return {
    app,
    tokens: core.tokens,
    access: core.access,
    health: core.health,
    metrics: core.metrics,
    cache: core.cache,
    connectors: core.connectors,
    setConnectors: core.setConnectors,
    async close() {
      http.closing();
      // Node closes idle keep-alive connections once, when close starts; a connection busy
      // then would stay open after its response and hold the close up. Keep closing the ones
      // that have gone idle (and ask clients to close: see the forwarder's Connection header).
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
      }
      await core.close();
    },
  };
}
