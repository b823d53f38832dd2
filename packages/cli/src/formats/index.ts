/** The export formats by name, for `keynest export --format`. Each one is a pure function. */
import { formatDocker } from './docker.js';
import { formatDotenv } from './dotenv.js';
import { formatJson } from './json.js';
import { formatK8s } from './k8s.js';
import { formatShell } from './shell.js';
import { formatYaml } from './yaml.js';
import type { ExportEntry } from './entry.js';

export type { ExportEntry } from './entry.js';
export { UnrepresentableValueError } from './entry.js';
export { defaultK8sName, isValidK8sName } from './k8s.js';
export { parseDotenv } from './dotenv-parse.js';

export const EXPORT_FORMATS = ['dotenv', 'json', 'yaml', 'shell', 'docker', 'k8s'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(name: string): name is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(name);
}

export function formatSecrets(format: ExportFormat, entries: ExportEntry[], k8sName: string): string {
  switch (format) {
    case 'dotenv':
      return formatDotenv(entries);
    case 'json':
      return formatJson(entries);
    case 'yaml':
      return formatYaml(entries);
    case 'shell':
      return formatShell(entries);
    case 'docker':
      return formatDocker(entries);
    case 'k8s':
      return formatK8s(entries, k8sName);
  }
}
