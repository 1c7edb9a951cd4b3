/**
 * What loading the proxy costs before it serves anything: its module graph must not pull in
 * modules it never uses. Node's own bundled undici (behind global fetch) costs 12 MiB of RSS and
 * is loaded by an ESM import of node:http (see src/util/node-http.ts) or by touching fetch,
 * WebSocket and the like; @kubernetes/client-node (about 60 MiB) is for --source kubernetes only;
 * the public suffix list (tldts, 3 MiB) for token realms on another host than their registry.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/proxy.ts';

const NODE_UNDICI = 'NativeModule internal/deps/undici/undici';

/** Imports `entry` in a fresh node process; what it loaded: builtins, and files under node_modules (ESM or CommonJS). */
function loadedBy(entry: string): { builtins: string[]; packages: string[] } {
  const script = `
    import { registerHooks } from 'node:module';
    const urls = [];
    registerHooks({ load: (url, context, next) => (urls.push(url), next(url, context)) });
    await import(${JSON.stringify(pathToFileURL(join(ROOT, entry)).href)});
    console.log(JSON.stringify({ builtins: process.moduleLoadList, packages: urls.filter((u) => u.includes('/node_modules/')) }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { builtins: string[]; packages: string[] };
}

describe('start-up footprint', () => {
  it("the server's modules do not load Node's bundled undici or the Kubernetes client", () => {
    const { builtins, packages } = loadedBy('src/cli/main.ts');
    expect(packages.some((f) => f.includes('/fastify/'))).toBe(true); // the probe sees what is loaded
    expect(builtins).not.toContain(NODE_UNDICI);
    expect(packages.filter((f) => f.includes('@kubernetes/client-node'))).toEqual([]);
    expect(packages.filter((f) => f.includes('/tldts'))).toEqual([]); // loaded when a token realm is on another host
  });

  it('the health command loads neither, nor the server', () => {
    const { builtins, packages } = loadedBy('src/cli/health.ts');
    expect(builtins).not.toContain(NODE_UNDICI);
    expect(packages.filter((f) => f.includes('/fastify/') || f.includes('@kubernetes/client-node'))).toEqual([]);
  });
});
