/** A loopback HTTP server that plays an upstream registry's exact answers and records requests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  bodyLength: number;
  aborted: boolean;
}

export interface ScriptedUpstream {
  url: string;
  origin: string;
  port: number;
  seen: Seen[];
  server: Server;
  stop(): Promise<void>;
}

export type Script = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

/**
 * `pings` counts the proxy's GET /v2/ challenge probes, which an open registry answers 200 and
 * which are not recorded in `seen` unless `answerPing` is false.
 */
export async function startScriptedUpstream(script: Script, answerPing = true): Promise<ScriptedUpstream> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    if (answerPing && req.method === 'GET' && req.url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      return;
    }
    const entry: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: 0, aborted: false };
    seen.push(entry);
    req.on('data', (d: Buffer) => (entry.bodyLength += d.length));
    req.on('close', () => {
      if (!req.complete) entry.aborted = true;
    });
    script(req, res, entry);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    origin: `http://127.0.0.1:${port}`,
    port,
    seen,
    server,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
