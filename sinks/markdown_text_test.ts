import assert from "node:assert/strict";
import { markdownToText } from "./markdown_text.ts";

Deno.test("markdownToText() drops ntfy's documented marks and keeps what they mark", async (t) => {
  const cases: { name: string; markdown: string; text: string }[] = [
    {
      name: "ntfy's example",
      markdown: "Look ma, **bold text**, *italics*, ...",
      text: "Look ma, bold text, italics, ...",
    },
    {
      name: "underscores and strike",
      markdown: "__bold__ _it_ ~~gone~~ snake_case_name",
      text: "bold it gone snake_case_name",
    },
    { name: "a link keeps its URL", markdown: "[some tool](https://ntfy.sh)", text: "some tool (https://ntfy.sh)" },
    { name: "an autolink", markdown: "see <https://x.example/a>", text: "see https://x.example/a" },
    {
      name: "an image is its description and URL",
      markdown: "![logo](https://bing.com/logo.png)",
      text: "logo (https://bing.com/logo.png)",
    },
    { name: "inline code is verbatim", markdown: "run `rm *.tmp` now", text: "run rm *.tmp now" },
    { name: "a code block is verbatim", markdown: "```\n**not bold**\n```", text: "**not bold**" },
    { name: "headings", markdown: "# Title\n## Sub ##", text: "Title\nSub" },
    { name: "lists", markdown: "- one\n* two\n  + three\n1. four", text: "• one\n• two\n  • three\n1. four" },
    { name: "a blockquote", markdown: "> quoted **text**", text: "│ quoted text" },
    { name: "a rule", markdown: "a\n---\nb", text: "a\n———\nb" },
    { name: "escapes", markdown: "2 \\* 3 \\_x\\_", text: "2 * 3 _x_" },
    {
      name: "plain text is unchanged",
      markdown: "disk 95% full on /var (a < b & c > d)",
      text: "disk 95% full on /var (a < b & c > d)",
    },
  ];
  for (const { name, markdown, text } of cases) {
    await t.step(name, () => assert.equal(markdownToText(markdown), text));
  }
});

Deno.test("markdownToText() leaves markup characters for the backend to escape", () => {
  // The result is text: `<b>` stays literal, and each backend escapes it as any body.
  assert.equal(markdownToText("**<b>x</b>** & [<i>](https://x.example/)"), "<b>x</b> & <i> (https://x.example/)");
});
