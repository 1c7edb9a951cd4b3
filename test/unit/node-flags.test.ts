/**
 * The node flags the proxy ships with are the same wherever it is started: `npm start`, the
 * image's ENTRYPOINT and the benchmark (which reads them from `npm start`); and this Node
 * accepts them (a V8 flag that a Node upgrade drops makes `node` exit with "bad option").
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shippedNodeFlags } from '../helpers/node-flags.ts';

const root = new URL('../../', import.meta.url);

function entrypointFlags(): string[] {
  const line = readFileSync(new URL('Dockerfile', root), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  expect(line, 'Dockerfile: an ENTRYPOINT line').toBeDefined();
  const argv = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
  expect(argv[0]).toBe('node');
  expect(argv.at(-1)).toBe('dist/cli.js');
  return argv.slice(1, -1);
}

describe('shipped node flags', () => {
  it('npm start and the Dockerfile ENTRYPOINT run the proxy with the same flags', () => {
    const flags = shippedNodeFlags();
    expect(flags).toContain('--max-semi-space-size=1');
    expect(flags.some((f) => f.startsWith('--incremental-marking-soft-trigger='))).toBe(true);
    expect(entrypointFlags()).toEqual(flags);
  });

  it('this Node accepts every one of them', () => {
    const r = spawnSync(process.execPath, [...shippedNodeFlags(), '-e', '0'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
