import type { ExportEntry } from './entry.js';
import { yamlKey, yamlString } from './yaml-scalar.js';

/** One `KEY: "value"` line per secret: a flat YAML mapping of strings. */
export function formatYaml(entries: ExportEntry[]): string {
  if (entries.length === 0) return '{}\n';
  return entries.map(({ key, value }) => `${yamlKey(key)}: ${yamlString(value)}\n`).join('');
}
