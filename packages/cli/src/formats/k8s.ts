import type { ExportEntry } from './entry.js';
import { yamlKey, yamlString } from './yaml-scalar.js';

/** A Kubernetes `Secret` manifest; `data` values are base64 of the UTF-8 bytes, as the API requires. */
export function formatK8s(entries: ExportEntry[], name: string): string {
  const lines = [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${yamlString(name)}`,
    'type: Opaque',
  ];
  if (entries.length === 0) {
    lines.push('data: {}');
  } else {
    lines.push('data:');
    for (const { key, value } of entries) {
      // Quoted because base64 text such as `true` or `1234` would otherwise read as a bool or a number.
      lines.push(`  ${yamlKey(key)}: ${yamlString(Buffer.from(value, 'utf8').toString('base64'))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** RFC 1123 subdomain, what Kubernetes accepts as an object name. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isValidK8sName(name: string): boolean {
  return name.length <= 253 && K8S_NAME.test(name);
}

/** A valid name made from project and environment names, e.g. `My App` + `prod` → `my-app-prod`. */
export function defaultK8sName(project: string, env: string): string {
  const slug = (text: string): string =>
    text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const name = slug(slug(`${project}-${env}`).slice(0, 253));
  return name === '' ? 'keynest-secrets' : name;
}
