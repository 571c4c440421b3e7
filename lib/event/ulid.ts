/**
 * ULIDs (https://github.com/ulid/spec): 48 bits of milliseconds and 80 random
 * bits in Crockford base32. Ids made by one generator are strictly increasing,
 * also within one millisecond, so a publisher's events sort in publish order.
 */

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

/** Matches a canonical ULID (upper case, first char at most 7). */
export const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** Returns a function that makes monotonic ULIDs. */
export function monotonicUlid(now: () => number = Date.now): () => string {
  let lastTime = -1;
  // 16 base32 digits, most significant first.
  const random = new Uint8Array(RANDOM_CHARS);
  return () => {
    const time = now();
    if (time > lastTime) {
      lastTime = time;
      crypto.getRandomValues(random);
      for (let i = 0; i < RANDOM_CHARS; i++) random[i] &= 31;
      // Leave headroom so increments within one millisecond cannot overflow.
      random[0] &= 15;
    } else {
      incrementBase32(random);
    }
    let out = encodeTime(lastTime);
    for (const digit of random) out += ALPHABET[digit];
    return out;
  };
}

function incrementBase32(digits: Uint8Array): void {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i] < 31) {
      digits[i]++;
      return;
    }
    digits[i] = 0;
  }
  throw new RangeError("ULID random part overflowed within one millisecond");
}

/** The millisecond timestamp inside a ULID. */
export function ulidTime(id: string): number {
  let ms = 0;
  for (let i = 0; i < TIME_CHARS; i++) ms = ms * 32 + ALPHABET.indexOf(id[i]);
  return ms;
}
