/**
 * `node:http`, loaded with require(). An ESM import of a builtin evaluates every export, and
 * node:http's WebSocket, MessageEvent and CloseEvent are getters that load Node's own bundled
 * copy of undici (the one behind global fetch): 12 MiB of RSS for nothing the proxy uses.
 * require() leaves them unevaluated. Import values of node:http from here; types as usual.
 */
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const { createServer, get, STATUS_CODES } = http;
