/**
 * The user-facing pages (README.md, SECURITY.md, docs/*.md) read as the
 * docs tests need them: prose and code apart, links, headings and tables.
 * A small reader of our own: the pages use a handful of Markdown forms, and
 * the tests must see exactly what a reader sees, not a renderer's guess.
 */

export const ROOT = new URL("../../", import.meta.url);

export interface Page {
  /** From the repository's root: `README.md`, `docs/cli.md`. */
  path: string;
  text: string;
  /** Fenced blocks with their language (`sh`, `console`, `toml`, ... or ""). */
  blocks: { lang: string; body: string }[];
  /** The text outside fenced blocks. */
  prose: string;
}

export async function readPages(): Promise<Page[]> {
  const paths = ["README.md", "SECURITY.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) paths.push(`docs/${entry.name}`);
  }
  return await Promise.all(paths.sort().map(readPage));
}

export async function readPage(path: string): Promise<Page> {
  const text = await Deno.readTextFile(new URL(path, ROOT));
  const blocks: Page["blocks"] = [];
  const prose = text.replace(/^```(\S*)\n([\s\S]*?)^```$/gm, (_, lang: string, body: string) => {
    blocks.push({ lang, body });
    return "";
  });
  return { path, text, blocks, prose };
}

/** Inline code spans of the prose (tables included), without their backticks. */
export function codeSpans(page: Page): string[] {
  return [...page.prose.matchAll(/`([^`\n]+)`/g)].map((match) => match[1]);
}

/** `[text](target)` links of the prose, images included. */
export function links(page: Page): string[] {
  return [...page.prose.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

export function anchors(page: Page): Set<string> {
  return new Set([...page.prose.matchAll(/^#+ (.*)$/gm)].map((match) => anchor(match[1])));
}

/** The section of a page under the heading that contains `title`, up to the next heading of its level or above. */
export function section(page: Page, title: string): string {
  const lines = page.prose.split("\n");
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.includes(title));
  if (start < 0) throw new Error(`${page.path} has no heading with "${title}"`);
  const level = /^#+/.exec(lines[start])![0].length;
  const end = lines.findIndex((line, i) => i > start && new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

/** The rows of the first Markdown table in `text`, each as its cells, header and rule left out. */
export function tableRows(text: string): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.startsWith("|"));
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("|"));
  const rows = start < 0 ? [] : lines.slice(start, end < 0 ? undefined : end);
  return rows.slice(2).map((row) =>
    row.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"))
  );
}

/** Command lines in a page's code: whole `sh` blocks, the prompt lines of `console` blocks, and inline spans. */
export function commandLines(page: Page): string[] {
  const lines: string[] = [];
  for (const block of page.blocks) {
    if (block.lang === "sh") lines.push(...block.body.split("\n"));
    if (block.lang === "console") {
      for (const line of block.body.split("\n")) {
        const prompt = /^\S*\$ (.*)$/.exec(line);
        if (prompt) lines.push(prompt[1]);
      }
    }
  }
  lines.push(...codeSpans(page));
  return lines.map((line) => line.replace(/(^|\s)#\s.*$/, ""));
}
