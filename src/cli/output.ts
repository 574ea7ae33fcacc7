import { UsageError } from './errors.js';

/** Column-aligned table: upper-case headers, two spaces between columns, no trailing blanks. */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const clean = rows.map((r) => headers.map((_, i) => oneLine(r[i] ?? '')));
  const widths = headers.map((h, i) => Math.max(width(h), ...clean.map((r) => width(r[i]!))));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...clean.map(line)].join('\n') + '\n';
}

/** "key  value" lines with the keys padded to one width; nested objects are shown as JSON. */
export function formatKeyValues(entries: ReadonlyArray<readonly [string, unknown]>): string {
  const w = Math.max(0, ...entries.map(([k]) => width(k)));
  return entries.map(([k, v]) => `${k}${' '.repeat(w - width(k))}  ${display(v)}`.trimEnd()).join('\n') + '\n';
}

/** How a value appears in a table cell or key-value line. */
export function display(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return oneLine(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return oneLine(JSON.stringify(v));
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

/** Display width (code points; good enough for the ASCII/Latin text the API returns). */
function width(s: string): number {
  return [...s].length;
}

/** "5s ago", "3m ago", "2h ago", "4d ago" from an ISO time. */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 0) return `in ${formatSpan(-s)}`;
  return `${formatSpan(s)} ago`;
}

function formatSpan(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** An ISO time plus its age: "2024-05-01T12:00:03Z (3m ago)". */
export function formatTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '-';
  return `${iso.replace(/\.\d+Z$/, 'Z')} (${formatAge(iso, now)})`;
}

/** A field by dot path ("state.status", "metadata.JOB"); a missing one is a usage error. */
export function pickField(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, part)) {
      const keys = typeof cur === 'object' && cur !== null && !Array.isArray(cur) ? Object.keys(cur).join(', ') : '';
      throw new UsageError(`--field ${path}: no field "${part}"${keys ? ` (there are: ${keys})` : ''}`);
    }
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A picked field as a line: strings raw, everything else as JSON. */
export function fieldText(v: unknown): string {
  if (typeof v === 'string') return `${v}\n`;
  if (v === null || v === undefined) return '\n';
  return `${JSON.stringify(v)}\n`;
}

export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
