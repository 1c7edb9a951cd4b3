/**
 * /metrics in Prometheus text format after real traffic (skopeo push and pull through a
 * token-auth registry): requests, bytes, upstream latency, token events, conditions and
 * in-flight transfers, with bounded labels and no secrets, repository names or digests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http } from '../helpers/http.ts';
import { makeImage, sha256, writeLayout } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { waitFor } from '../helpers/ports.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const USER = { username: 'metrics-user', password: 'metrics-Pa55word-9' };
let ts: TokenServer;
let registry: Registry;
let proxy: RunningProxy;
let cleanup: string[] = [];

/** `name{labels} value` lines of one metric, labels parsed. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => {
      const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[k!] = v!;
      return { labels, value: Number(m[2]) };
    });
}
const sum = (s: { value: number }[]): number => s.reduce((a, b) => a + b.value, 0);

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  registry = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
  proxy = await startProxy([connectorFor(registry.url, { name: 'secure', namespace: 'team-a', credentials: USER, healthRepository: 'team/app' })], {
    health: { intervalMs: 0, timeoutMs: 5_000 },
  });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await ts?.stop();
  const { rmSync } = await import('node:fs');
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  cleanup = [];
});

describe('/metrics', () => {
  it('counts real traffic with bounded labels and no secrets', async () => {
    const image = makeImage('amd64', [50_000]);
    const layout = writeLayout([image], 'v1');
    cleanup.push(layout.dir);
    const ref = `docker://${proxy.host}/team/app:v1`;
    expect((await skopeo(['copy', '--dest-tls-verify=false', layout.ref, ref])).code).toBe(0);
    expect((await skopeo(['inspect', '--tls-verify=false', ref])).code).toBe(0);
    const layer = await http(`${proxy.url}/v2/team/app/blobs/${sha256(image.layers[0]!)}`);
    expect(layer.body.length).toBe(image.layers[0]!.length);
    await proxy.server.health!.checkAll();
    await http(`${proxy.url}/v2/team/app/manifests/-not-a-tag`);

    const res = await http(`${proxy.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body.toString();

    const requests = samples(text, 'ocp_requests_total');
    expect(new Set(requests.map((s) => s.labels['connector']))).toEqual(new Set(['team-a/secure', 'none']));
    for (const s of requests) {
      expect(['base', 'manifest', 'blob', 'upload-start', 'upload', 'tags', 'referrers', 'catalog', 'none']).toContain(s.labels['endpoint']);
      expect(s.labels['status_class']).toMatch(/^([1-5]xx|aborted)$/);
    }
    const blobPuts = requests.filter((s) => s.labels['endpoint'] === 'upload' && s.labels['method'] === 'PUT' && s.labels['status_class'] === '2xx');
    expect(sum(blobPuts)).toBeGreaterThanOrEqual(2); // config and layer
    expect(sum(requests.filter((s) => s.labels['connector'] === 'none' && s.labels['status_class'] === '4xx'))).toBe(1);

    const bytes = samples(text, 'ocp_bytes_total');
    expect(sum(bytes.filter((s) => s.labels['direction'] === 'in'))).toBeGreaterThan(50_000);
    expect(sum(bytes.filter((s) => s.labels['direction'] === 'out'))).toBeGreaterThan(50_000);
    expect(sum(samples(text, 'ocp_upstream_response_seconds_count'))).toBeGreaterThan(5);

    const tokens = samples(text, 'ocp_token_events_total');
    const tokenCount = (event: string) => sum(tokens.filter((s) => s.labels['event'] === event && s.labels['connector'] === 'team-a/secure'));
    expect(tokenCount('exchange')).toBe(ts.requests.filter((r) => r.status === 200).length);
    expect(tokenCount('hit')).toBeGreaterThan(0);

    const auth = samples(text, 'ocp_connector_condition').filter((s) => s.labels['type'] === 'AuthReady');
    expect(auth.find((s) => s.labels['status'] === 'True')?.value).toBe(1);
    expect(auth.find((s) => s.labels['status'] === 'False')?.value).toBe(0);

    await waitFor('no transfer in flight', async () => {
      const t = (await http(`${proxy.url}/metrics`)).body.toString();
      return sum(samples(t, 'ocp_inflight_requests')) === 0;
    });
    expect(samples(text, 'ocp_process_resident_memory_bytes')[0]!.value).toBeGreaterThan(0);

    // Bounded and clean: no repository names, digests, credentials or tokens.
    expect(text).not.toContain('team/app');
    expect(text).not.toContain('sha256:');
    expect(text).not.toContain(USER.password);
    for (const t of ts.secrets()) expect(text).not.toContain(t);
  }, 60_000);
});
