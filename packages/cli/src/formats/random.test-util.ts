/**
 * A small seeded generator for the randomized format tests, so a failure names a seed that
 * reproduces it (Math.random cannot be seeded).
 */
export interface Random {
  seed: number;
  int(below: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: tiny, fast, and good enough to spread test inputs. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    int: (below) => Math.floor(next() * below),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

/** Pieces that stress quoting: every quote kind, escapes, comment and line characters, unicode. */
export const NASTY_PIECES = [
  '"', "'", '`', '\\', '\\n', '\\r', 'n', 'r', '#', '$', '${A}', '=', ' ', '  ', '\t', '\n', '\r', '\r\n',
  '\u2028', '\u2029', '\u00a0', '\ufeff', 'é', '日本', '😀', 'a', 'B', '0', 'export ', 'X=', '#x', ' #', '\\"', "\\'",
] as const;

export function randomValue(random: Random, maxPieces: number): string {
  const count = random.int(maxPieces + 1);
  let value = '';
  for (let i = 0; i < count; i++) value += random.pick(NASTY_PIECES);
  return value;
}

export function randomSeed(): number {
  return Number(process.env.KEYNEST_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
}
