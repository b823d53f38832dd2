/**
 * References inside secret values: `${KEY}` (same environment), `${env.KEY}` (another environment
 * of the same project), and `$${` for a literal `${`. Anything else that starts with `${` but is
 * not a well-formed reference (e.g. a shell `${HOME:-x}`) is kept as literal text, so values that
 * are scripts survive untouched. Pure logic: values come from a `ReferenceSource`.
 */

export type Segment = { text: string } | { ref: { env: string | null; key: string } };

const TOKEN = /\$\$\{|\$\{(?:([a-z0-9][a-z0-9-]*)\.)?([A-Z_][A-Z0-9_]*)\}/g;

export function parseValue(value: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of value.matchAll(TOKEN)) {
    const at = m.index;
    if (at > last) out.push({ text: value.slice(last, at) });
    if (m[0] === '$${') out.push({ text: '${' });
    else out.push({ ref: { env: m[1] ?? null, key: m[2]! } });
    last = at + m[0].length;
  }
  if (last < value.length) out.push({ text: value.slice(last) });
  return out;
}

export function hasReferences(value: string): boolean {
  return value.includes('${');
}

export type ReferenceFailure =
  | { kind: 'not_found'; reference: string }
  | { kind: 'cycle'; path: string[] }
  | { kind: 'forbidden'; reference: string }
  | { kind: 'too_large'; reference: string }
  | { kind: 'too_deep'; reference: string };

export class ReferenceError extends Error {
  constructor(readonly failure: ReferenceFailure) {
    super(failure.kind);
    this.name = 'ReferenceError';
  }
}

export interface ReferenceSource {
  /** The raw (unresolved) value, `undefined` when missing or deleted; throws ReferenceError('forbidden'). */
  get(env: string, key: string): Promise<string | undefined>;
}

export const MAX_REFERENCE_DEPTH = 32;
export const MAX_RESOLVED_BYTES = 1024 * 1024;

/**
 * Resolves values with memoisation (each secret expands once) and cycle detection. `resolve`
 * returns the fully expanded value of env/key; the raw value of the root is passed in.
 */
export class ReferenceResolver {
  /** Fully expanded values, with their UTF-8 size so the limit is checked without re-measuring. */
  readonly #done = new Map<string, { value: string; bytes: number }>();
  constructor(private readonly source: ReferenceSource) {}

  async resolve(env: string, key: string, raw: string): Promise<string> {
    return (await this.#expand(env, key, raw, [])).value;
  }

  async #expand(env: string, key: string, raw: string, stack: string[]): Promise<{ value: string; bytes: number }> {
    const id = `${env}.${key}`;
    const memo = this.#done.get(id);
    if (memo !== undefined) return memo;
    if (stack.includes(id)) throw new ReferenceError({ kind: 'cycle', path: [...stack.slice(stack.indexOf(id)), id] });
    if (stack.length >= MAX_REFERENCE_DEPTH) throw new ReferenceError({ kind: 'too_deep', reference: id });
    const path = [...stack, id];
    let value = '';
    let bytes = 0;
    for (const seg of parseValue(raw)) {
      let part: { value: string; bytes: number };
      if ('text' in seg) {
        part = { value: seg.text, bytes: Buffer.byteLength(seg.text, 'utf8') };
      } else {
        const refEnv = seg.ref.env ?? env;
        const refId = `${refEnv}.${seg.ref.key}`;
        const refRaw = this.#done.has(refId) ? '' : await this.source.get(refEnv, seg.ref.key);
        if (refRaw === undefined) throw new ReferenceError({ kind: 'not_found', reference: seg.ref.env ? refId : seg.ref.key });
        part = await this.#expand(refEnv, seg.ref.key, refRaw, path);
      }
      bytes += part.bytes;
      if (bytes > MAX_RESOLVED_BYTES) throw new ReferenceError({ kind: 'too_large', reference: id });
      value += part.value;
    }
    const done = { value, bytes };
    this.#done.set(id, done);
    return done;
  }
}
