/**
 * The shipped `--heap-growing-percent` keeps the proxy's heap small under request load. Under
 * manifest GETs at 32 connections most of each in-flight request's objects outlive the 1 MiB
 * young generation and move to the old one, where they die; V8's own growth factor then lets
 * the old generation grow to about three times what is live before the next full GC, a fixed
 * factor of 2 to about twice it (72 against 36 MiB here).
 * Manifest GETs to the real registry through a proxy at the shipped flags without that one
 * (the control) and through one at the shipped flags, each reporting the largest old
 * generation its own `ocp_nodejs_heap_space_size_total_bytes{space="old"}` showed while the
 * load ran. V8's own factor follows how fast the process allocates against how fast it collects,
 * so the control grows less on a machine busy with other work (47 MiB beside the other test
 * files): vitest.config.ts runs this file last, alone.
 */
import { Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedNodeFlags } from '../helpers/node-flags.ts';
import { MT, makeImage, pushImage } from '../helpers/oci.ts';
import { type ProxyProcess, spawnProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';

const MiB = 1024 * 1024;
const REQUESTS = 10_000;
const CONNECTIONS = 32;
const GROWTH = '--heap-growing-percent=';

let registry: Registry;
beforeAll(async () => {
  registry = await startRegistry();
  await pushImage(registry.url, 'growth/image', 'v1', makeImage('amd64', [1024]));
});
afterAll(async () => {
  await registry?.stop();
});

async function oldSpaceBytes(p: ProxyProcess): Promise<number> {
  const res = await request(`${p.url}/metrics`);
  const m = /^ocp_nodejs_heap_space_size_total_bytes\{space="old"\} (\d+)/m.exec(await res.body.text());
  return m ? Number(m[1]) : Number.NaN;
}

/** REQUESTS manifest GETs over CONNECTIONS connections; the old generation sampled every 100 ms. */
async function largestOldSpaceUnderLoad(p: ProxyProcess): Promise<number> {
  const pool = new Pool(p.url, { connections: CONNECTIONS });
  let next = 0;
  let largest = 0;
  const worker = async (): Promise<void> => {
    while (next++ < REQUESTS) {
      const res = await pool.request({ path: '/v2/growth/image/manifests/v1', method: 'GET', headers: { accept: MT.manifest } });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      largest = Math.max(largest, await oldSpaceBytes(p));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  } finally {
    sampling = false;
    await sampler;
    await pool.close();
  }
  return Math.max(largest, await oldSpaceBytes(p));
}

async function largestOldSpace(nodeFlags: string[]): Promise<number> {
  const p = await spawnProxy(['--upstream', registry.url, '--log-level', 'warn'], {}, undefined, nodeFlags);
  try {
    return await largestOldSpaceUnderLoad(p);
  } finally {
    await p.stop();
  }
}

describe('the shipped heap growth factor', () => {
  it('keeps the old generation under manifest load well below what V8 grows it to by itself', async () => {
    const shipped = shippedNodeFlags();
    expect(shipped.some((f) => f.startsWith(GROWTH))).toBe(true);
    const control = await largestOldSpace(shipped.filter((f) => !f.startsWith(GROWTH)));
    const fixed = await largestOldSpace(shipped);
    console.log(`largest old generation during ${REQUESTS} manifest GETs: ${(control / MiB).toFixed(1)} MiB without ${GROWTH}, ${(fixed / MiB).toFixed(1)} MiB with it`);
    expect(fixed).toBeLessThan(control * 0.75);
  }, 90_000);
});
