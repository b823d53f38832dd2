/** Aligned plain-text tables for human output (no colours: output is often piped or logged). */

export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const cells = [headers, ...rows].map((row) => row.map(oneLine));
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '))
    .join('\n');
}

/** Control characters would break the layout, so such a cell is shown JSON-escaped. */
function oneLine(cell: string): string {
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(cell) ? JSON.stringify(cell) : cell;
}

/** `2024-05-01T10:00:00.000Z` → `2024-05-01 10:00:00Z`; null → `-`. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
