/** The status page's series: rates from counter differences, quantiles from histogram buckets, sampling only while read. */
import { describe, expect, it } from 'vitest';
import type { ConnectorCounters } from '../../src/observability/metrics.ts';
import { quantileMs, StatusSeries } from '../../src/status/series.ts';

const counters = (requests2xx: number, bytesOut: number, buckets: [number, number][]): ConnectorCounters => ({
  requests: { '2xx': requests2xx, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 },
  bytesIn: 0,
  bytesOut,
  latencyBuckets: new Map(buckets),
  tokenExchanges: 0,
  tokenFailures: 0,
  cacheHits: 0,
  cacheMisses: 0,
});

describe('quantileMs', () => {
  it('interpolates within the bucket that holds the rank, like histogram_quantile', () => {
    const b: [number, number][] = [
      [0.01, 50],
      [0.1, 90],
      [1, 100],
      [Number.POSITIVE_INFINITY, 100],
    ];
    expect(quantileMs(b, 0.5)).toBeCloseTo(10, 5); // the 50th of 100 is the top of the first bucket
    expect(quantileMs(b, 0.7)).toBeCloseTo(55, 5); // halfway through 10..100 ms
    expect(quantileMs(b, 0.99)).toBeCloseTo(910, 5);
  });
  it('nothing observed: null; everything beyond the last bound: that bound', () => {
    expect(quantileMs([[Number.POSITIVE_INFINITY, 0]], 0.5)).toBeNull();
    expect(
      quantileMs(
        [
          [1, 0],
          [Number.POSITIVE_INFINITY, 3],
        ],
        0.99,
      ),
    ).toBe(1000);
  });
});

describe('StatusSeries', () => {
  it('points are per-second rates over each interval, and latency of that interval only', async () => {
    let t = 0;
    const snapshots = [
      new Map([
        [
          'ns/a',
          counters(10, 1000, [
            [0.1, 5],
            [Number.POSITIVE_INFINITY, 5],
          ]),
        ],
      ]),
      new Map([
        [
          'ns/a',
          counters(30, 5000, [
            [0.1, 5],
            [1, 10],
            [Number.POSITIVE_INFINITY, 10],
          ]),
        ],
      ]),
    ];
    let i = 0;
    const series = new StatusSeries(async () => snapshots[i++]!, { intervalMs: 60_000, now: () => t });
    expect(series.points('ns/a')).toEqual([]); // the first read starts sampling
    await Promise.resolve();
    t = 2_000;
    await series.sample();
    const [p] = series.points('ns/a');
    expect(p!.rps['2xx']).toBe(10); // 20 more in 2 s
    expect(p!.outBps).toBe(2000);
    expect(p!.p50Ms).toBeGreaterThan(100); // the 5 new observations were all between 100 ms and 1 s
    series.close();
  });
  it('stops sampling when nobody reads', async () => {
    let t = 0;
    let reads = 0;
    const series = new StatusSeries(
      async () => {
        reads++;
        return new Map([['ns/a', counters(reads, 0, [])]]);
      },
      { intervalMs: 10, idleStopMs: 30, now: () => t },
    );
    series.points('ns/a');
    await new Promise((r) => setTimeout(r, 40));
    t = 1_000; // long after the last read
    await new Promise((r) => setTimeout(r, 40));
    const after = reads;
    await new Promise((r) => setTimeout(r, 40));
    expect(reads).toBe(after);
    series.close();
  });
});
