import { UnrepresentableValueError, type ExportEntry } from './entry.js';

/**
 * `docker run --env-file` format: `KEY=value` taken literally up to the end of the line (no quoting,
 * no escapes). Docker splits lines on LF and drops a CR before it, so a value with either cannot be
 * written; it is refused rather than cut.
 */
export function formatDocker(entries: ExportEntry[]): string {
  return entries
    .map(({ key, value }) => {
      if (/[\r\n]/.test(value)) {
        throw new UnrepresentableValueError(
          key,
          `the value of ${key} spans several lines, which a docker env file cannot hold; use --format json or dotenv`,
        );
      }
      return `${key}=${value}\n`;
    })
    .join('');
}
