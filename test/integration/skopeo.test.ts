/** A real client (skopeo) pushes and pulls through the proxy to the real distribution registry. */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, sha256, writeLayout } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { skopeo } from '../helpers/tools.ts';

let registry: Registry;
let proxy: RunningProxy;
const cleanup: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startProxy([connectorFor(registry.url)]);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('skopeo through the proxy', () => {
  it('pushes an image, reads it back byte-identical, and the registry holds it', async () => {
    const image = makeImage('amd64', [100_000, 3_000_000]);
    const src = writeLayout([image], 'v1');
    cleanup.push(src.dir);
    const push = await skopeo(['copy', '--dest-tls-verify=false', src.ref, `docker://${proxy.host}/team/app:v1`]);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);

    // The upstream holds exactly our manifest.
    const direct = await fetch(`${registry.url}/v2/team/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(direct.status).toBe(200);
    expect(direct.headers.get('docker-content-digest')).toBe(image.manifestDigest);

    const out = join(src.dir, 'pulled');
    const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${proxy.host}/team/app:v1`, `dir:${out}`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(sha256(readFileSync(join(out, 'manifest.json')))).toBe(image.manifestDigest);
    for (const layer of image.layers) {
      expect(sha256(readFileSync(join(out, sha256(layer).slice(7))))).toBe(sha256(layer));
    }

    const inspect = await skopeo(['inspect', '--tls-verify=false', `docker://${proxy.host}/team/app:v1`]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).Digest).toBe(image.manifestDigest);
  });

  it('pushes and pulls a multi-arch image index', async () => {
    const images = [makeImage('amd64', [20_000]), makeImage('arm64', [30_000])];
    const src = writeLayout(images, 'multi');
    cleanup.push(src.dir);
    const push = await skopeo(['copy', '--all', '--dest-tls-verify=false', src.ref, `docker://${proxy.host}/team/multi:1.0`]);
    expect(push.code, push.stderr).toBe(0);

    const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${proxy.host}/team/multi`]);
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout).Tags).toEqual(['1.0']);

    const out = join(src.dir, 'pulled-arm');
    const pull = await skopeo(['copy', '--override-arch', 'arm64', '--src-tls-verify=false', `docker://${proxy.host}/team/multi:1.0`, `dir:${out}`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(sha256(readFileSync(join(out, 'manifest.json')))).toBe(images[1]!.manifestDigest);

    const all = join(src.dir, 'pulled-all');
    const pullAll = await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${proxy.host}/team/multi:1.0`, `oci:${all}:x`]);
    expect(pullAll.code, pullAll.stderr).toBe(0);
  });

  it('copies between two repositories through the proxy (blob mount)', async () => {
    const image = makeImage('amd64', [50_000]);
    const src = writeLayout([image], 'm');
    cleanup.push(src.dir);
    expect((await skopeo(['copy', '--dest-tls-verify=false', src.ref, `docker://${proxy.host}/mount/src:m`])).code).toBe(0);
    const copy = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${proxy.host}/mount/src:m`, `docker://${proxy.host}/mount/dst:m`]);
    expect(copy.code, copy.stderr).toBe(0);
    const head = await fetch(`${registry.url}/v2/mount/dst/blobs/${sha256(image.layers[0]!)}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});
