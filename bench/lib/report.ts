/** One line of the benchmark table: what was measured, Shoal vs the raw backend, and the target. */
export interface BenchRow {
  /** benchmark group, e.g. "core", "docker", "qemu" */
  group: string;
  /** what was measured, e.g. "create→ALLOCATED p50 (ms)" */
  metric: string;
  /** Shoal's value */
  value: number;
  /** the raw backend's value measured in the same run, when there is one */
  baseline?: number;
  /** human-readable target, e.g. "≤ 5" or "ratio ≤ 1.15" */
  target: string;
  /** whether the target was met */
  ok: boolean;
}

/** A benchmark module exports `run` returning its rows; bench/run.ts calls each and prints one table. */
export type BenchModule = { run(): Promise<BenchRow[]> };

export function formatTable(rows: BenchRow[]): string {
  const head = ['group', 'metric', 'shoal', 'raw backend', 'ratio', 'target', 'result'];
  const fmt = (n: number | undefined): string => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
  const body = rows.map((r) => [
    r.group,
    r.metric,
    fmt(r.value),
    fmt(r.baseline),
    r.baseline ? (r.value / r.baseline).toFixed(2) : '-',
    r.target,
    r.ok ? 'ok' : 'MISSED',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
