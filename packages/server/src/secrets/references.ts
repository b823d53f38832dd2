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
  readonly #done = new Map<string, string>();
  constructor(private readonly source: ReferenceSource) {}

  async resolve(env: string, key: string, raw: string, stack: string[] = []): Promise<string> {
    const id = `${env}.${key}`;
    const memo = this.#done.get(id);
    if (memo !== undefined) return memo;
    if (stack.includes(id)) throw new ReferenceError({ kind: 'cycle', path: [...stack.slice(stack.indexOf(id)), id] });
    if (stack.length >= MAX_REFERENCE_DEPTH) throw new ReferenceError({ kind: 'too_deep', reference: id });
    const path = [...stack, id];
    let out = '';
    for (const seg of parseValue(raw)) {
      if ('text' in seg) {
        out += seg.text;
        continue;
      }
      const refEnv = seg.ref.env ?? env;
      const refId = `${refEnv}.${seg.ref.key}`;
      const refRaw = this.#done.has(refId) ? null : await this.source.get(refEnv, seg.ref.key);
      if (refRaw === undefined) throw new ReferenceError({ kind: 'not_found', reference: seg.ref.env ? refId : seg.ref.key });
      out += await this.resolve(refEnv, seg.ref.key, refRaw ?? '', path);
      if (out.length > MAX_RESOLVED_BYTES) throw new ReferenceError({ kind: 'too_large', reference: id });
    }
    this.#done.set(id, out);
    return out;
  }
}
