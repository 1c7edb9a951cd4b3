/** Metrics: series of connectors that are no longer served are dropped; the rest stay. */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';

describe('Metrics.retain', () => {
  it('drops every series of a removed connector, keeps the others and "none", and keeps an in-flight gauge until it drains', async () => {
    const m = new Metrics({ defaultMetrics: false });
    for (const connector of ['ns/a', 'ns/b']) {
      m.started(connector);
      m.finished({ connector, endpoint: 'manifest', method: 'GET', status: 200, bytesIn: 10, bytesOut: 20 }, true);
      m.upstreamResponded(connector, 'manifest', 0.01);
    }
    m.finished({ connector: undefined, endpoint: undefined, method: 'GET', status: 404, bytesIn: 1, bytesOut: 1 }, false);
    m.started('ns/b'); // a transfer still running on b
    await m.retain(new Set(['ns/a']));
    const text = await m.registry.metrics();
    expect(text).toContain('connector="ns/a"');
    expect(text).toContain('connector="none"');
    const bLines = text.split('\n').filter((l) => l.includes('connector="ns/b"'));
    expect(bLines).toEqual(['ocp_inflight_requests{connector="ns/b"} 1']);
    m.finished({ connector: 'ns/b', endpoint: 'manifest', method: 'GET', status: 200, bytesIn: 0, bytesOut: 0 }, true);
    await m.retain(new Set(['ns/a']));
    expect(await m.registry.metrics()).not.toContain('connector="ns/b"');
  });
});
