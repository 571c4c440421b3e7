/** Writes every byte; `Writer.write` may write fewer than it was given. */
export async function writeAll(writer: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await writer.write(bytes.subarray(offset));
}
