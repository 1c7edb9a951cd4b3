/** The packages of src/ depend on one another one way only: no cycle between directories. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy.ts';

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** `src/upstream/auth.ts` → `upstream`; a file at the top (`src/core.ts`) is a package of its own. */
const packageOf = (file: string): string => relative(SRC, file).split('/')[0]!.replace(/\.ts$/, '');

function graph(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const f of files(SRC)) {
    for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const [a, b] = [packageOf(f), packageOf(resolve(dirname(f), m[1]!))];
      if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
    }
  }
  return edges;
}

function cycles(edges: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const walk = (path: string[]): void => {
    for (const next of edges.get(path.at(-1)!) ?? []) {
      if (path.includes(next)) found.push([...path.slice(path.indexOf(next)), next]);
      else walk([...path, next]);
    }
  };
  for (const p of edges.keys()) walk([p]);
  return found;
}

describe('src/ packages', () => {
  it('have no import cycles between them', () => {
    const edges = graph();
    expect(edges.size).toBeGreaterThan(8);
    expect(cycles(edges)).toEqual([]);
  });

  it('upstream/ knows nothing of the API routes, the forwarder or the server', () => {
    expect([...(graph().get('upstream') ?? [])].filter((p) => ['proxy', 'http', 'server', 'core', 'management'].includes(p))).toEqual([]);
  });
});
