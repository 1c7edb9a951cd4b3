/**
 * The frames of a V8 `.cpuprofile`: its types, the category of a frame (logging, Fastify,
 * undici, Node internals, the proxy's own modules, ...), the functions of interest on the
 * forwarding path, and a frame's source location (mapped from dist/ to src/).
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ROOT } from './constants.ts';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Categories by URL, first match wins (frames without a URL, native code, are sorted out before). */
const CATEGORIES: [string, RegExp][] = [
  [
    'pino (logging)',
    /\/node_modules\/(pino|pino-std-serializers|sonic-boom|fast-redact|@pinojs\/[^/]+|quick-format-unescaped|safe-stable-stringify|thread-stream|on-exit-leak-free|atomic-sleep|fast-copy|slow-redact)\//,
  ],
  [
    'fastify (routing, hooks)',
    /\/node_modules\/(fastify|find-my-way|avvio|@fastify\/[^/]+|light-my-request|fast-json-stringify|toad-cache|rfdc|process-warning|abstract-logging|fast-querystring|fast-decode-uri-component|ret|safe-regex2|json-schema-ref-resolver|proxy-addr|forwarded|ipaddr\.js|semver|secure-json-parse|content-type)\//,
  ],
  ['undici (upstream client)', /\/node_modules\/undici\//],
  ['lru-cache', /\/node_modules\/lru-cache\//],
  ['other dependencies', /\/node_modules\//],
  ['node http (parser, headers, ServerResponse)', /^node:(_http_|http$|internal\/http)/],
  ['node streams (pipeline, Readable/Writable)', /^node:(stream|internal\/streams\/)/],
  ['node net/socket (stream_base, writev)', /^node:(net$|internal\/net|internal\/stream_base_commons|internal\/js_stream_socket|internal\/dgram)/],
  [
    'node events/timers/microtasks',
    /^node:(events$|internal\/event_target|internal\/process\/task_queues|internal\/timers|timers$|internal\/async_hooks|internal\/abort_controller|internal\/util$|internal\/validators)/,
  ],
  ['node other', /^node:/],
  ['proxy source (dist/)', /\/dist\/.*\.js$/],
];

export function categoryOf(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(idle)') return '(idle)';
  if (name === '(program)') return '(program: V8/native not attributed)';
  if (name === '(garbage collector)') return '(garbage collector)';
  if (name === '(root)') return '(root)';
  if (frame.url === '') return 'native builtins (write/writev, Buffer ops, ...)';
  for (const [cat, re] of CATEGORIES) if (re.test(frame.url)) return cat;
  return 'other JS';
}

/** Functions on the forwarding path whose on-stack time is reported by name. */
export const OF_INTEREST: [string, RegExp][] = [
  ['forward (src/proxy/forward.ts, whole handler)', /^forward$/],
  ['request log line (res close handler in forward)', /^$/], // filled by url/line match below
  ['clientResponseHeaders (src/proxy/headers.ts)', /^clientResponseHeaders$/],
  ['upstreamRequestHeaders (src/proxy/headers.ts)', /^upstreamRequestHeaders$/],
  ['parseRoute (src/distribution/route.ts)', /^parseRoute$/],
  ['presentedCredential (src/access/credential.ts)', /^presentedCredential$/],
  ['Authenticator layer (src/upstream/auth.ts)', /^(layer|authorization|learn)$/],
  ['pino LOG / write (any pino frame)', /^(LOG|write|asJson)$/],
  ['undici Agent/Pool dispatch', /^(dispatch|\[dispatch\]|request|_resume|resume|writeH1|writeBuffer|writeStream|writeIterable)$/],
  ['ServerResponse.writeHead / _storeHeader', /^(writeHead|_storeHeader|processHeader|_implicitHeader)$/],
  ['stream pipeline / pipe / ondata', /^(pipeline|pipelineImpl|pipe|ondata|onData|addChunk|readableAddChunk)$/],
  ['fastify routing (find-my-way lookup, onRequest)', /^(lookup|find|routeHandler|_find|wrapRouting|preHandlerCallback|handleRequest)$/],
];

function shortUrl(url: string): string {
  let u = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length);
  return u.replace(/^node_modules\//, '~/');
}

const maps = new Map<string, SourceMap | null>();

/** `src/x.ts:line` for a frame in dist/ (via the .js.map next to it), else `url:line`. */
export function location(frame: CallFrame): string {
  if (frame.url === '') return '(native)';
  const line = frame.lineNumber + 1;
  if (/\/dist\/.*\.js$/.test(frame.url)) {
    const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
    let map = maps.get(file);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(file + '.map', 'utf8')));
      } catch {
        map = null;
      }
      maps.set(file, map);
    }
    if (map) {
      const e = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number };
      if (e.originalSource !== undefined && e.originalLine !== undefined) {
        const src = e.originalSource.replace(/^.*?\bsrc\//, 'src/');
        return `${src}:${e.originalLine + 1}`;
      }
    }
  }
  return `${shortUrl(frame.url)}:${line}`;
}

/** One key per function: name, script and line. */
export const fnKey = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\u0000${f.url}\u0000${f.lineNumber}`;
