/**
 * The shipped node flags keep blob transfers free of full GCs. With V8's defaults, every Buffer a
 * transfer allocates counts towards starting a full mark-compact of the whole heap, so an upload
 * runs one every few tens of MiB; at the shipped flags (README, "Node flags") it runs none or
 * almost none. A 256 MiB upload to the real registry through a proxy at V8's defaults (the
 * control: if a Node upgrade changes how V8 starts marking, the contrast goes and this fails,
 * a sign to measure the flags again) and through one at the shipped flags, each counting the
 * major GCs in its own `ocp_nodejs_gc_duration_seconds` metric (8–10 against 0 here).
 *
 * It guards the flags together, not each: under this harness `--max-semi-space-size=1` alone
 * ran 0–4 full GCs per upload, where the benchmark's curl client saw 9–13 per 256 MiB with it
 * alone and 0 with the marking triggers added (README, Results).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedNodeFlags } from '../helpers/node-flags.ts';
import { type ProxyProcess, spawnProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';

const MiB = 1024 * 1024;
const TILE = randomBytes(MiB);
const BLOB = Buffer.concat(Array.from({ length: 256 }, () => TILE));
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;

let registry: Registry;
beforeAll(async () => {
  // tmpfs, as in the benchmark: the registry then takes the blob as fast as the proxy sends it.
  registry = await startRegistry({ dir: mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ocp-marking-')) });
});
afterAll(async () => {
  await registry?.stop();
});

async function majorGcs(p: ProxyProcess): Promise<number> {
  const res = await request(`${p.url}/metrics`);
  const m = /^ocp_nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/m.exec(await res.body.text());
  return m ? Number(m[1]) : 0;
}

/** POST, then one PUT of the whole blob. */
async function upload(p: ProxyProcess, repo: string): Promise<void> {
  const post = await request(`${p.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  await post.body.dump();
  expect(post.statusCode).toBe(202);
  const loc = new URL(String(post.headers['location']), p.url);
  loc.searchParams.set('digest', DIGEST);
  const put = await request(loc, { method: 'PUT', body: BLOB, headers: { 'content-type': 'application/octet-stream' } });
  await put.body.dump();
  expect(put.statusCode).toBe(201);
}

/** Major GCs of a fresh proxy at `nodeFlags` during one upload, after one to warm it up. */
async function majorGcsDuringUpload(nodeFlags: string[], repo: string): Promise<number> {
  const p = await spawnProxy(['--upstream', registry.url, '--log-level', 'warn'], {}, undefined, nodeFlags);
  try {
    await upload(p, `${repo}/warm-up`);
    const before = await majorGcs(p);
    await upload(p, repo);
    return (await majorGcs(p)) - before;
  } finally {
    await p.stop();
  }
}

describe('the shipped node flags', () => {
  it('a 256 MiB upload runs several full GCs at V8 defaults and (almost) none at the shipped flags', async () => {
    const control = await majorGcsDuringUpload([], 'marking/defaults');
    const shipped = await majorGcsDuringUpload(shippedNodeFlags(), 'marking/shipped');
    console.log(`major GCs during a 256 MiB upload: ${control} at V8's defaults, ${shipped} at the shipped flags`);
    expect(control).toBeGreaterThanOrEqual(4);
    expect(shipped).toBeLessThanOrEqual(1);
  }, 60_000);
});
