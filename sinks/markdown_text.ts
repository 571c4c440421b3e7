/**
 * Markdown as plain text, for sinks whose platform shows no Markdown (the
 * desktop popups): the marks go, what they mark stays, and a link keeps its
 * URL in the text so nothing the writer linked is lost. The output is plain
 * text, never markup: each backend escapes it for its own platform as it
 * escapes any body, so a Markdown body can no more inject markup than a plain one.
 *
 * This is not a Markdown parser: it handles what ntfy's docs list (emphasis,
 * links, images, code, headings, lists, blockquotes, rules), line by line,
 * and leaves anything else as written.
 */

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^(\s*)[-*+]\s+/;
const QUOTE = /^\s{0,3}>\s?/;

/** `**bold**, *italics* and [a link](https://x.example)` → `bold, italics and a link (https://x.example)`. */
export function markdownToText(markdown: string): string {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.split("\n")) {
    if (FENCE.test(line)) {
      inFence = !inFence;
      continue;
    }
    // Code is shown as written.
    if (inFence) {
      out.push(line);
      continue;
    }
    if (RULE.test(line)) {
      out.push("———");
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push(inline(heading[1]));
      continue;
    }
    let prefix = "";
    let rest = line;
    const quote = QUOTE.exec(rest);
    if (quote) {
      prefix = "│ ";
      rest = rest.slice(quote[0].length);
    }
    const bullet = BULLET.exec(rest);
    if (bullet) {
      prefix += `${bullet[1]}• `;
      rest = rest.slice(bullet[0].length);
    }
    out.push(prefix + inline(rest));
  }
  return out.join("\n");
}

/** Inline marks of one line: code spans are kept verbatim, the rest loses its marks. */
function inline(text: string): string {
  return text.split(/(`+[^`]*`+)/).map((part, index) => {
    if (index % 2 === 1) return part.replace(/^`+\s?|\s?`+$/g, "");
    // A backslash escape stands for the character itself, which no rule below may take for a mark.
    const escaped: string[] = [];
    return part
      .replace(/\\([\\`*_{}[\]()#+\-.!~>|])/g, (_, char) => `\uE000${escaped.push(char) - 1}\uE001`)
      // An image cannot be shown: its description and URL are.
      .replace(/!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, (_, alt, url) => alt ? `${alt} (${url})` : url)
      .replace(
        /\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g,
        (_, label, url) => label === url ? url : `${label} (${url})`,
      )
      .replace(/<((?:https?|mailto):[^>\s]+)>/g, "$1")
      .replace(/(\*\*|__)(?=\S)(.+?)(?<=\S)\1/g, "$2")
      .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, "$1")
      .replace(/(^|[^\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])/g, "$1$2")
      .replace(/(^|[^\w])_(?=\S)([^_]+?)(?<=\S)_(?!\w)/g, "$1$2")
      .replace(/\uE000(\d+)\uE001/g, (mark, index) => escaped[Number(index)] ?? mark);
  }).join("");
}
