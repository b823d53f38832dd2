/** What every export format receives: the environment's secrets, in the order to write them. */
export interface ExportEntry {
  key: string;
  value: string;
}

/** A value the chosen format cannot hold exactly. The message names the key, never the value. */
export class UnrepresentableValueError extends Error {
  readonly key: string;

  constructor(key: string, message: string) {
    super(message);
    this.name = 'UnrepresentableValueError';
    this.key = key;
  }
}
