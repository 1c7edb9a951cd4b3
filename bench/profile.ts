/**
 * Summary of a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function, self
 * and on-stack time per category (logging, Fastify, undici, Node http/streams/net, the proxy's
 * own modules, GC), and on-stack time of the functions of interest on the forwarding path.
 *
 * Used by bench/run.ts --profile; also runs on its own:
 *   scripts/node bench/profile.ts <file.cpuprofile> [title]
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
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

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Categories by URL (first match wins); `null` url match means "no URL" (native code). */
const CATEGORIES: [string, RegExp][] = [
  ['pino (logging)', /\/node_modules\/(pino|pino-std-serializers|sonic-boom|fast-redact|@pinojs\/[^/]+|quick-format-unescaped|safe-stable-stringify|thread-stream|on-exit-leak-free|atomic-sleep|fast-copy|slow-redact)\//],
  ['fastify (routing, hooks)', /\/node_modules\/(fastify|find-my-way|avvio|@fastify\/[^/]+|light-my-request|fast-json-stringify|toad-cache|rfdc|process-warning|abstract-logging|fast-querystring|fast-decode-uri-component|ret|safe-regex2|json-schema-ref-resolver|proxy-addr|forwarded|ipaddr\.js|semver|secure-json-parse|content-type)\//],
  ['undici (upstream client)', /\/node_modules\/undici\//],
  ['lru-cache', /\/node_modules\/lru-cache\//],
  ['other dependencies', /\/node_modules\//],
  ['node http (parser, headers, ServerResponse)', /^node:(_http_|http$|internal\/http)/],
  ['node streams (pipeline, Readable/Writable)', /^node:(stream|internal\/streams\/)/],
  ['node net/socket (stream_base, writev)', /^node:(net$|internal\/net|internal\/stream_base_commons|internal\/js_stream_socket|internal\/dgram)/],
  ['node events/timers/microtasks', /^node:(events$|internal\/event_target|internal\/process\/task_queues|internal\/timers|timers$|internal\/async_hooks|internal\/abort_controller|internal\/util$|internal\/validators)/],
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
const OF_INTEREST: [string, RegExp][] = [
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
function location(frame: CallFrame): string {
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

function fmtMs(us: number): string {
  return (us / 1000).toFixed(1).padStart(9);
}

function pct(part: number, whole: number): string {
  return (whole > 0 ? (100 * part) / whole : 0).toFixed(1).padStart(5) + '%';
}

export interface ProfileSummary {
  text: string;
  busyMs: number;
  categoriesSelf: Record<string, number>;
  categoriesOnStack: Record<string, number>;
  top: { fn: string; where: string; category: string; selfMs: number; pct: number }[];
}

/**
 * Summarises a profile. Sample i is charged the time until sample i+1. Percentages are of busy
 * time (all samples but `(idle)`).
 */
export function summarizeProfile(profile: CpuProfile, title: string, topN = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // forward()'s res.once('close') handler: an anonymous function in forward.js; recognised by
  // being an anonymous frame whose parent chain starts at an emit of 'close' on a ServerResponse
  // is too fragile; instead: the anonymous frames of dist/proxy/forward.js that call pino.
  const selfByNode = new Map<number, number>();
  const n = profile.samples.length;
  // Sample timestamps (µs, CLOCK_MONOTONIC like process.hrtime): startTime + the deltas so far.
  const stamps: number[] = [];
  let at = profile.startTime;
  for (let i = 0; i < n; i++) stamps.push((at += profile.timeDeltas[i] ?? 0));
  let inWindow = (_i: number): boolean => true;
  let windowNote = 'whole profile (start-up included)';
  if (window) {
    const count = stamps.filter((t) => t >= window.fromUs && t <= window.toUs).length;
    if (count > 0) {
      inWindow = (i) => stamps[i]! >= window.fromUs && stamps[i]! <= window.toUs;
      windowNote = `only the ${((window.toUs - window.fromUs) / 1e6).toFixed(2)} s of measured load (start-up, warm-up and shutdown excluded)`;
    } else {
      windowNote = 'whole profile (the load window matched no samples)';
    }
  }
  let total = 0;
  let counted = 0;
  for (let i = 0; i < n; i++) {
    if (!inWindow(i)) continue;
    const dt = i + 1 < n ? profile.timeDeltas[i + 1]! : 0;
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
    total += dt;
    counted++;
  }

  const fnKey = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\u0000${f.url}\u0000${f.lineNumber}`;
  const selfByFn = new Map<string, { frame: CallFrame; us: number }>();
  const catSelf = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    if (f.functionName === '(idle)') idle += us;
    const k = fnKey(f);
    const e = selfByFn.get(k) ?? { frame: f, us: 0 };
    e.us += us;
    selfByFn.set(k, e);
    const cat = categoryOf(f);
    catSelf.set(cat, (catSelf.get(cat) ?? 0) + us);
  }
  const busy = total - idle;

  // On-stack (inclusive) time per category and per function of interest: each sample counts
  // once per category / function present anywhere on its stack.
  const catStack = new Map<string, number>();
  const interestStack = new Map<string, number>();
  const ownFnStack = new Map<string, { frame: CallFrame; us: number }>();
  const stackCache = new Map<number, { cats: Set<string>; interest: Set<string>; own: Map<string, CallFrame> }>();
  const stackOf = (id: number): { cats: Set<string>; interest: Set<string>; own: Map<string, CallFrame> } => {
    const hit = stackCache.get(id);
    if (hit) return hit;
    const cats = new Set<string>();
    const interest = new Set<string>();
    const own = new Map<string, CallFrame>();
    let cur: number | undefined = id;
    let underForwardAnon = false;
    while (cur !== undefined) {
      const node = byId.get(cur);
      if (!node) break;
      const f = node.callFrame;
      const cat = categoryOf(f);
      cats.add(cat);
      if (cat === 'pino (logging)') underForwardAnon = true;
      for (const [label, re] of OF_INTEREST) {
        if (label.startsWith('request log line')) continue;
        if (label.startsWith('pino') && cat !== 'pino (logging)') continue;
        if (label.startsWith('undici') && cat !== 'undici (upstream client)') continue;
        if (label.startsWith('ServerResponse') && !cat.startsWith('node http')) continue;
        if (label.startsWith('stream') && !cat.startsWith('node streams')) continue;
        if (label.startsWith('fastify') && !cat.startsWith('fastify')) continue;
        if (label.startsWith('Authenticator') && !/auth\.js$/.test(f.url)) continue;
        if (re.test(f.functionName)) interest.add(label);
      }
      if (underForwardAnon && f.functionName === '' && /\/dist\/proxy\/forward\.js$/.test(f.url)) {
        interest.add('request log line (res close handler in forward)');
      }
      if (cat === 'proxy source (dist/)') own.set(fnKey(f), f);
      cur = parent.get(cur);
    }
    const v = { cats, interest, own };
    stackCache.set(id, v);
    return v;
  };
  for (const [id, us] of selfByNode) {
    const s = stackOf(id);
    for (const c of s.cats) catStack.set(c, (catStack.get(c) ?? 0) + us);
    for (const c of s.interest) interestStack.set(c, (interestStack.get(c) ?? 0) + us);
    for (const [k, f] of s.own) {
      const e = ownFnStack.get(k) ?? { frame: f, us: 0 };
      e.us += us;
      ownFnStack.set(k, e);
    }
  }

  const lines: string[] = [];
  const wall = (profile.endTime - profile.startTime) / 1000;
  lines.push(`# ${title}`);
  lines.push(`profile: ${n} samples over ${(wall / 1000).toFixed(2)} s wall; summarised: ${windowNote}: ${counted} samples, busy (non-idle) ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms`);
  lines.push('percentages are of busy time; "self" = the function itself, "on stack" = the function or anything it called');
  lines.push('');
  lines.push(`## top ${topN} functions by self time`);
  lines.push(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function                                  where                                      category`);
  const top = [...selfByFn.values()].filter((e) => e.frame.functionName !== '(idle)').sort((a, b) => b.us - a.us).slice(0, topN);
  for (const e of top) {
    const name = (e.frame.functionName || '(anonymous)').slice(0, 40).padEnd(40);
    lines.push(`${fmtMs(e.us)} ${pct(e.us, busy)}  ${name}  ${location(e.frame).slice(0, 42).padEnd(42)} ${categoryOf(e.frame)}`);
  }
  lines.push('');
  lines.push('## where the top self-time functions are called from (up to 5 callers, heaviest paths)');
  const callerPaths = (k: string): [string, number][] => {
    const paths = new Map<string, number>();
    for (const [id, us] of selfByNode) {
      const node = byId.get(id);
      if (!node || fnKey(node.callFrame) !== k) continue;
      const chain: string[] = [];
      let cur = parent.get(id);
      while (cur !== undefined && chain.length < 5) {
        const f = byId.get(cur)?.callFrame;
        if (!f || f.functionName === '(root)') break;
        chain.push(`${f.functionName || '(anonymous)'} ${location(f)}`);
        cur = parent.get(cur);
      }
      const key = chain.join(' < ') || '(top level)';
      paths.set(key, (paths.get(key) ?? 0) + us);
    }
    return [...paths].sort((a, b) => b[1] - a[1]).slice(0, 3);
  };
  for (const e of top.filter((x) => !x.frame.functionName.startsWith('(')).slice(0, 10)) {
    lines.push(`${e.frame.functionName || '(anonymous)'} (${location(e.frame)}), ${(e.us / 1000).toFixed(1)} ms:`);
    for (const [path, us] of callerPaths(fnKey(e.frame))) lines.push(`  ${fmtMs(us)}  < ${path}`);
  }
  lines.push('');
  lines.push('## categories');
  lines.push(`${'self ms'.padStart(9)} ${'self%'.padStart(6)} ${'stack ms'.padStart(9)} ${'stack%'.padStart(6)}  category`);
  const cats = [...new Set([...catSelf.keys(), ...catStack.keys()])].filter((c) => c !== '(idle)' && c !== '(root)');
  cats.sort((a, b) => (catSelf.get(b) ?? 0) - (catSelf.get(a) ?? 0));
  for (const c of cats) {
    const s = catSelf.get(c) ?? 0;
    const st = catStack.get(c) ?? 0;
    lines.push(`${fmtMs(s)} ${pct(s, busy)} ${fmtMs(st)} ${pct(st, busy)}  ${c}`);
  }
  lines.push('');
  lines.push('## functions on the forwarding path (on-stack time)');
  for (const [label] of OF_INTEREST) {
    const us = interestStack.get(label) ?? 0;
    lines.push(`${fmtMs(us)} ${pct(us, busy)}  ${label}`);
  }
  lines.push('');
  lines.push('## the proxy\'s own functions (dist/, mapped to src/), top 15 by on-stack time');
  const own = [...ownFnStack.values()].sort((a, b) => b.us - a.us).slice(0, 15);
  for (const e of own) {
    lines.push(`${fmtMs(e.us)} ${pct(e.us, busy)}  ${(e.frame.functionName || '(anonymous)').padEnd(32)} ${location(e.frame)}`);
  }
  lines.push('');

  const toMs = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v / 100) / 10]));
  return {
    text: lines.join('\n'),
    busyMs: Math.round(busy / 1000),
    categoriesSelf: toMs(catSelf),
    categoriesOnStack: toMs(catStack),
    top: top.map((e) => ({
      fn: e.frame.functionName || '(anonymous)',
      where: location(e.frame),
      category: categoryOf(e.frame),
      selfMs: Math.round(e.us / 100) / 10,
      pct: busy > 0 ? Math.round((1000 * e.us) / busy) / 10 : 0,
    })),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: scripts/node bench/profile.ts <file.cpuprofile> [title]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(summarizeProfile(profile, process.argv[3] ?? file).text + '\n');
}
