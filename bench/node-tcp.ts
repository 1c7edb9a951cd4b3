/**
 * The node-tcp anchor: the floor of moving bytes through Node, below any HTTP. Each client
 * connection gets its own upstream connection and the bytes are piped both ways (`net` sockets,
 * `pipe`): no parsing, no pooling, no headers touched. What Node's sockets cost on their own
 * (each read is at most 64 KiB, a new Buffer, a callback into JS), in the same run as the proxy.
 *
 *   scripts/node [node flags] bench/node-tcp.ts <listen port>=<upstream port> ...
 */
import { connect, createServer, type Socket } from 'node:net';

function splice(client: Socket, upstreamPort: number): void {
  const upstream = connect(upstreamPort, '127.0.0.1');
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}

for (const pair of process.argv.slice(2)) {
  const [listen, upstream] = pair.split('=').map(Number);
  if (!listen || !upstream) throw new Error(`node-tcp: want <listen port>=<upstream port>, got ${pair}`);
  createServer({ noDelay: true }, (c) => splice(c, upstream)).listen(listen, '127.0.0.1');
}
