/**
 * Writes a file only its owner can read, through a temporary file and a
 * rename, so a crash never leaves it half-written.
 */
export async function writePrivateFile(path: string, data: Uint8Array): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(temporary, data, { mode: 0o600 });
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
