import type { ExportEntry } from './entry.js';

/** `{ "KEY": "value" }`, pretty-printed. Built on a null-prototype object so no key is special. */
export function formatJson(entries: ExportEntry[]): string {
  const object: Record<string, string> = Object.create(null);
  for (const { key, value } of entries) object[key] = value;
  return `${JSON.stringify(object, null, 2)}\n`;
}
