/**
 * The node-relay anchor: the least a reverse proxy written in Node with node:http and undici can
 * do, for the benchmark to show what Node itself costs in the same run. Per request: the
 * request's method, path and headers to the upstream through an undici Agent (keep-alive, HEAD
 * connections kept), the body streamed both ways with `pipe`; no authentication, routing,
 * checks, logging or metrics. Hop-by-hop headers are dropped, nothing else is changed.
 *
 *   scripts/node [node flags] bench/node-relay.ts <listen port>=<upstream port> ...
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent } from 'undici';

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

function forwardable(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function relay(agent: Agent, origin: string) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    try {
      const up = await agent.request({
        origin,
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers: forwardable(req.rawHeaders),
        body: hasBody ? req : null,
        reset: false,
      });
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
      res.writeHead(up.statusCode, headers);
      up.body.on('error', () => res.destroy());
      up.body.pipe(res);
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    }
  };
}

// Exit on SIGTERM (how the bench stops it) rather than die of it, so that --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));

for (const pair of process.argv.slice(2)) {
  const [listen, upstream] = pair.split('=').map(Number);
  if (!listen || !upstream) throw new Error(`node-relay: want <listen port>=<upstream port>, got ${pair}`);
  const agent = new Agent({ connections: 128, keepAliveTimeout: 60_000 });
  const server = createServer({ keepAliveTimeout: 75_000, requestTimeout: 0 }, relay(agent, `http://127.0.0.1:${upstream}`));
  server.listen(listen, '127.0.0.1');
}
