/** Reading ntfy's request parameters: a header or a query parameter, under several names. */

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The first non-empty value among headers `names`, then query parameters `names` (ntfy's `readParam`). */
export function readParam(request: Request, url: URL, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = request.headers.get(name);
    if (value !== null && value.trim() !== "") return decodeHeader(value.trim());
  }
  for (const name of names) {
    const value = url.searchParams.get(name);
    if (value !== null && value.trim() !== "") return value.trim();
  }
  return undefined;
}

const ENCODED_WORD = /=\?([-\w]+)\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * Header values arrive as bytes, one char per byte: curl sends UTF-8 as is,
 * so it is decoded again here. RFC 2047 words (`=?UTF-8?B?…?=`), which ntfy
 * accepts for non-ASCII titles, are decoded as well.
 */
function decodeHeader(raw: string): string {
  let text = raw;
  if (/[\x80-\xff]/.test(raw) && !/[\u0100-\uffff]/.test(raw)) {
    try {
      text = utf8.decode(Uint8Array.from(raw, (char) => char.charCodeAt(0)));
    } catch {
      // Not UTF-8: keep the bytes as Latin-1, which is what they then are.
    }
  }
  if (!text.includes("=?")) return text;
  return text.replace(/(\?=)\s+(?==\?)/g, "$1").replace(ENCODED_WORD, (word, charset, encoding, data) => {
    try {
      const bytes = encoding.toUpperCase() === "B"
        ? Uint8Array.from(atob(data), (char) => char.charCodeAt(0))
        : Uint8Array.from(
          data.replaceAll("_", " ").replace(
            /=([0-9A-Fa-f]{2})/g,
            (_: string, hex: string) => String.fromCharCode(parseInt(hex, 16)),
          ),
          (char: string) => char.charCodeAt(0),
        );
      return new TextDecoder(charset, { fatal: true }).decode(bytes);
    } catch {
      return word;
    }
  });
}
