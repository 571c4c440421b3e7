/** Parses durations such as `500ms`, `30s`, `10m`, `2h`, `7d` or `1h30m`. */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Returns milliseconds, or throws `RangeError` naming the bad input. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === "") throw new RangeError(`invalid duration "${text}"`);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (!match || match.index !== start) {
      throw new RangeError(
        `invalid duration "${text}": use a number and a unit, e.g. 30s, 10m, 2h, 7d`,
      );
    }
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  return Math.round(total);
}
