/** Joins byte chunks into one array; a single chunk is returned as is. */
export function concatBytes(
  parts: Uint8Array[],
  total = parts.reduce((sum, part) => sum + part.length, 0),
): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
