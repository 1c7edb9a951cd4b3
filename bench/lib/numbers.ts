/** Rounding, medians and the number format of the printed tables. */
import { MiB } from './constants.ts';

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const round3 = (x: number): number => round(x, 3);

/** Three significant digits or so: 1234, 12.3, 1.23; 'n/a' for NaN. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Left-aligned first column, right-aligned others, two spaces apart. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** '256 MiB', '1 GiB'. */
export function mib(n: number): string {
  return n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
