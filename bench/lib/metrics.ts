/** Reading a proxy's Prometheus metrics (GET /metrics): the samples of one metric, summed by label. */
import { request } from 'undici';
import { sleep } from './numbers.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the Prometheus text `text` (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** GET <proxy>/metrics, parsed. */
export async function scrape(proxyUrl: string): Promise<Sample[]> {
  const res = await request(`${proxyUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode}`);
  return parseMetrics(text);
}

/** The sum of `name`'s samples whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** `name`'s samples summed by the value of `label` (among those that include `match`). */
export function byLabel(samples: Sample[], name: string, label: string, match: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const k = s.labels[label] ?? '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** Waits (up to `timeoutMs`) until the proxy's cache has no fill running; its counters are final then. */
export async function fillsSettled(proxyUrl: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sum(await scrape(proxyUrl), 'ocp_cache_fills_in_flight') > 0) {
    if (Date.now() > deadline) throw new Error(`a cache fill still runs after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** What a cache counted between two scrapes: bytes by source, requests by result. */
export function cacheDelta(before: Sample[], after: Sample[], connector: string): { bytes: Record<string, number>; results: Record<string, number> } {
  const delta = (name: string, label: string): Record<string, number> => {
    const a = byLabel(before, name, label, { connector });
    const b = byLabel(after, name, label, { connector });
    return Object.fromEntries(Object.entries(b).flatMap(([k, v]) => (v - (a[k] ?? 0) !== 0 ? [[k, v - (a[k] ?? 0)]] : [])));
  };
  return { bytes: delta('ocp_cache_bytes_total', 'source'), results: delta('ocp_cache_requests_total', 'result') };
}
