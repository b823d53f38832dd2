import type { WriteResult } from '@keynest/sdk';

/** `added API_KEY (version 1)`, one line per key, as `secrets set` and `import` print them. */
export function describeWrites(results: WriteResult[]): string {
  return results.map((r) => `${r.status} ${r.key} (version ${r.version})`).join('\n');
}
