/**
 * Summary of a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function, self
 * and on-stack time per category (logging, Fastify, undici, Node http/streams/net, the proxy's
 * own modules, GC), and on-stack time of the functions of interest on the forwarding path.
 * The frames' categories and locations are in lib/profile-frames.ts.
 *
 * Used by bench/run.ts --profile; also runs on its own:
 *   scripts/node bench/profile.ts <file.cpuprofile> [title]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CallFrame, type CpuProfile, categoryOf, fnKey, location, OF_INTEREST, type ProfileNode } from './lib/profile-frames.ts';

export { type CpuProfile, categoryOf } from './lib/profile-frames.ts';

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

/** The call tree: nodes by id, and each node's parent. */
interface Tree {
  byId: Map<number, ProfileNode>;
  parent: Map<number, number>;
}

type FnTimes = Map<string, { frame: CallFrame; us: number }>;

function treeOf(profile: CpuProfile): Tree {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { byId, parent };
}

interface SelfTimes {
  selfByNode: Map<number, number>;
  /** Time of the samples summarised, idle included (µs). */
  total: number;
  counted: number;
  windowNote: string;
}

/** Self time (µs) per node over the samples in `window` (all when it matches none). */
function selfTimes(profile: CpuProfile, window: { fromUs: number; toUs: number } | undefined): SelfTimes {
  const n = profile.samples.length;
  // Sample timestamps (µs, CLOCK_MONOTONIC like process.hrtime): startTime + the deltas so far.
  const stamps: number[] = [];
  let at = profile.startTime;
  for (let i = 0; i < n; i++) {
    at += profile.timeDeltas[i] ?? 0;
    stamps.push(at);
  }
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
  const selfByNode = new Map<number, number>();
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
  return { selfByNode, total, counted, windowNote };
}

/** Self time per function and per category, and the idle time. */
function selfByFunction(tree: Tree, selfByNode: Map<number, number>): { selfByFn: FnTimes; catSelf: Map<string, number>; idle: number } {
  const selfByFn: FnTimes = new Map();
  const catSelf = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfByNode) {
    const node = tree.byId.get(id);
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
  return { selfByFn, catSelf, idle };
}

/** The OF_INTEREST labels a frame of category `cat` matches (the request log line aside). */
function interestLabels(f: CallFrame, cat: string): string[] {
  const out: string[] = [];
  for (const [label, re] of OF_INTEREST) {
    if (label.startsWith('request log line')) continue;
    if (label.startsWith('pino') && cat !== 'pino (logging)') continue;
    if (label.startsWith('undici') && cat !== 'undici (upstream client)') continue;
    if (label.startsWith('ServerResponse') && !cat.startsWith('node http')) continue;
    if (label.startsWith('stream') && !cat.startsWith('node streams')) continue;
    if (label.startsWith('fastify') && !cat.startsWith('fastify')) continue;
    if (label.startsWith('Authenticator') && !/auth\.js$/.test(f.url)) continue;
    if (re.test(f.functionName)) out.push(label);
  }
  return out;
}

interface Stack {
  cats: Set<string>;
  interest: Set<string>;
  own: Map<string, CallFrame>;
}

/** The categories, functions of interest and proxy functions anywhere on a node's stack. */
function stackOf(tree: Tree, id: number): Stack {
  const s: Stack = { cats: new Set(), interest: new Set(), own: new Map() };
  let cur: number | undefined = id;
  let underPino = false;
  while (cur !== undefined) {
    const node = tree.byId.get(cur);
    if (!node) break;
    const f = node.callFrame;
    const cat = categoryOf(f);
    s.cats.add(cat);
    if (cat === 'pino (logging)') underPino = true;
    for (const label of interestLabels(f, cat)) s.interest.add(label);
    // forward()'s res.once('close') handler (the request log line) is an anonymous function in
    // forward.js; telling it by the 'close' emit of a ServerResponse up its parent chain is too
    // fragile, so: the anonymous frames of dist/proxy/forward.js that call pino.
    if (underPino && f.functionName === '' && /\/dist\/proxy\/forward\.js$/.test(f.url)) {
      s.interest.add('request log line (res close handler in forward)');
    }
    if (cat === 'proxy source (dist/)') s.own.set(fnKey(f), f);
    cur = tree.parent.get(cur);
  }
  return s;
}

/**
 * On-stack (inclusive) time per category, per function of interest and per proxy function: each
 * sample counts once per category / function present anywhere on its stack.
 */
function stackTimes(tree: Tree, selfByNode: Map<number, number>): { catStack: Map<string, number>; interestStack: Map<string, number>; ownFnStack: FnTimes } {
  const catStack = new Map<string, number>();
  const interestStack = new Map<string, number>();
  const ownFnStack: FnTimes = new Map();
  for (const [id, us] of selfByNode) {
    const s = stackOf(tree, id);
    for (const c of s.cats) catStack.set(c, (catStack.get(c) ?? 0) + us);
    for (const c of s.interest) interestStack.set(c, (interestStack.get(c) ?? 0) + us);
    for (const [k, f] of s.own) {
      const e = ownFnStack.get(k) ?? { frame: f, us: 0 };
      e.us += us;
      ownFnStack.set(k, e);
    }
  }
  return { catStack, interestStack, ownFnStack };
}

/** The 3 heaviest caller chains (up to 5 callers) of the function `k`. */
function callerPaths(tree: Tree, selfByNode: Map<number, number>, k: string): [string, number][] {
  const paths = new Map<string, number>();
  for (const [id, us] of selfByNode) {
    const node = tree.byId.get(id);
    if (!node || fnKey(node.callFrame) !== k) continue;
    const chain: string[] = [];
    let cur = tree.parent.get(id);
    while (cur !== undefined && chain.length < 5) {
      const f = tree.byId.get(cur)?.callFrame;
      if (!f || f.functionName === '(root)') break;
      chain.push(`${f.functionName || '(anonymous)'} ${location(f)}`);
      cur = tree.parent.get(cur);
    }
    const key = chain.join(' < ') || '(top level)';
    paths.set(key, (paths.get(key) ?? 0) + us);
  }
  return [...paths].sort((a, b) => b[1] - a[1]).slice(0, 3);
}

type Entry = { frame: CallFrame; us: number };

function topSection(lines: string[], top: Entry[], topN: number, busy: number, tree: Tree, selfByNode: Map<number, number>): void {
  lines.push(`## top ${topN} functions by self time`);
  lines.push(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function                                  where                                      category`);
  for (const e of top) {
    const name = (e.frame.functionName || '(anonymous)').slice(0, 40).padEnd(40);
    lines.push(`${fmtMs(e.us)} ${pct(e.us, busy)}  ${name}  ${location(e.frame).slice(0, 42).padEnd(42)} ${categoryOf(e.frame)}`);
  }
  lines.push('');
  lines.push('## where the top self-time functions are called from (up to 5 callers, heaviest paths)');
  for (const e of top.filter((x) => !x.frame.functionName.startsWith('(')).slice(0, 10)) {
    lines.push(`${e.frame.functionName || '(anonymous)'} (${location(e.frame)}), ${(e.us / 1000).toFixed(1)} ms:`);
    for (const [path, us] of callerPaths(tree, selfByNode, fnKey(e.frame))) lines.push(`  ${fmtMs(us)}  < ${path}`);
  }
  lines.push('');
}

function stackSections(lines: string[], busy: number, catSelf: Map<string, number>, st: ReturnType<typeof stackTimes>): void {
  lines.push('## categories');
  lines.push(`${'self ms'.padStart(9)} ${'self%'.padStart(6)} ${'stack ms'.padStart(9)} ${'stack%'.padStart(6)}  category`);
  const cats = [...new Set([...catSelf.keys(), ...st.catStack.keys()])].filter((c) => c !== '(idle)' && c !== '(root)');
  cats.sort((a, b) => (catSelf.get(b) ?? 0) - (catSelf.get(a) ?? 0));
  for (const c of cats) {
    const s = catSelf.get(c) ?? 0;
    const stack = st.catStack.get(c) ?? 0;
    lines.push(`${fmtMs(s)} ${pct(s, busy)} ${fmtMs(stack)} ${pct(stack, busy)}  ${c}`);
  }
  lines.push('');
  lines.push('## functions on the forwarding path (on-stack time)');
  for (const [label] of OF_INTEREST) {
    const us = st.interestStack.get(label) ?? 0;
    lines.push(`${fmtMs(us)} ${pct(us, busy)}  ${label}`);
  }
  lines.push('');
  lines.push("## the proxy's own functions (dist/, mapped to src/), top 15 by on-stack time");
  const own = [...st.ownFnStack.values()].sort((a, b) => b.us - a.us).slice(0, 15);
  for (const e of own) {
    lines.push(`${fmtMs(e.us)} ${pct(e.us, busy)}  ${(e.frame.functionName || '(anonymous)').padEnd(32)} ${location(e.frame)}`);
  }
  lines.push('');
}

/**
 * Summarises a profile. Sample i is charged the time until sample i+1. Percentages are of busy
 * time (all samples but `(idle)`).
 */
export function summarizeProfile(profile: CpuProfile, title: string, topN = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const tree = treeOf(profile);
  const { selfByNode, total, counted, windowNote } = selfTimes(profile, window);
  const { selfByFn, catSelf, idle } = selfByFunction(tree, selfByNode);
  const busy = total - idle;
  const st = stackTimes(tree, selfByNode);

  const lines: string[] = [];
  const wall = (profile.endTime - profile.startTime) / 1000;
  lines.push(`# ${title}`);
  lines.push(
    `profile: ${profile.samples.length} samples over ${(wall / 1000).toFixed(2)} s wall; summarised: ${windowNote}: ${counted} samples, busy (non-idle) ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms`,
  );
  lines.push('percentages are of busy time; "self" = the function itself, "on stack" = the function or anything it called');
  lines.push('');
  const top = [...selfByFn.values()]
    .filter((e) => e.frame.functionName !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, topN);
  topSection(lines, top, topN, busy, tree, selfByNode);
  stackSections(lines, busy, catSelf, st);

  const toMs = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v / 100) / 10]));
  return {
    text: lines.join('\n'),
    busyMs: Math.round(busy / 1000),
    categoriesSelf: toMs(catSelf),
    categoriesOnStack: toMs(st.catStack),
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
