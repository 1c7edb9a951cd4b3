/** The node flags the proxy ships with, read from `npm start`; the benchmark and the tests run the proxy with them. */
import { readFileSync } from 'node:fs';

/** What stands between `scripts/node` and `src/cli.ts` in package.json's `start` script. */
export function shippedNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const start = pkg.scripts.start.split(' ');
  const from = start.indexOf('scripts/node');
  const to = start.indexOf('src/cli.ts');
  if (from < 0 || to < from) throw new Error(`package.json: scripts.start is not "scripts/node [flags] src/cli.ts": ${start.join(' ')}`);
  return start.slice(from + 1, to);
}
