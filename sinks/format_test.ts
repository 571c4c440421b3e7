import assert from "node:assert/strict";
import { formatEventLine, stripControls } from "./format.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../lib/event/event.ts";

const NOW = Date.UTC(2026, 10, 21, 23, 59, 59, 123);

function event(draft: EventDraft, host = "ci-01"): HarkEvent {
  return createEvent(draft, { id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K", now: NOW, host, peer: "12D3KooWTest" });
}

/** Anything a terminal could act on: C0, DEL, C1, line separators, bidi controls. */
// deno-lint-ignore no-control-regex
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

Deno.test("stripControls() neutralises control sequences", async (t) => {
  const cases: { name: string; text: string; expected: string }[] = [
    { name: "plain text", text: "Build #812 failed", expected: "Build #812 failed" },
    { name: "SGR colour", text: "\x1b[31mred\x1b[0m", expected: "\uFFFD[31mred\uFFFD[0m" },
    { name: "OSC window title", text: "\x1b]0;title\x07", expected: "\uFFFD]0;title\uFFFD" },
    {
      name: "OSC 8 hyperlink",
      text: "\x1b]8;;https://evil\x1b\\x\x1b]8;;\x1b\\",
      expected: "\uFFFD]8;;https://evil\uFFFD\\x\uFFFD]8;;\uFFFD\\",
    },
    { name: "cursor movement", text: "ok\x1b[2K\x1b[1A", expected: "ok\uFFFD[2K\uFFFD[1A" },
    { name: "carriage return", text: "real\rfake", expected: "real fake" },
    { name: "newline", text: "one\ntwo", expected: "one two" },
    { name: "CRLF", text: "one\r\ntwo", expected: "one  two" },
    { name: "tab", text: "a\tb", expected: "a b" },
    { name: "backspace", text: "abc\x08\x08x", expected: "abc\uFFFD\uFFFDx" },
    { name: "NUL and BEL", text: "\x00\x07", expected: "\uFFFD\uFFFD" },
    { name: "DEL", text: "a\x7fb", expected: "a\uFFFDb" },
    { name: "C1 CSI", text: "\x9b31m", expected: "\uFFFD31m" },
    { name: "C1 NEL", text: "a\x85b", expected: "a\uFFFDb" },
    { name: "right-to-left override", text: "invoice\u202efdp.exe", expected: "invoice\uFFFDfdp.exe" },
    { name: "bidi embeddings", text: "\u202a\u202b\u202c\u202d", expected: "\uFFFD\uFFFD\uFFFD\uFFFD" },
    { name: "bidi isolates", text: "\u2066x\u2067y\u2068z\u2069", expected: "\uFFFDx\uFFFDy\uFFFDz\uFFFD" },
    { name: "line and paragraph separators", text: "a\u2028b\u2029c", expected: "a\uFFFDb\uFFFDc" },
    { name: "printable Unicode", text: "Grüße 😀 ✅ →", expected: "Grüße 😀 ✅ →" },
  ];
  for (const { name, text, expected } of cases) {
    await t.step(name, () => {
      const stripped = stripControls(text);
      assert.equal(stripped, expected);
      assert.doesNotMatch(stripped, TERMINAL_UNSAFE);
    });
  }
});

Deno.test("formatEventLine() writes one readable line", () => {
  const line = formatEventLine(event({
    topic: "builds",
    title: "Build #812 failed",
    body: "test_login timed out",
    priority: 4,
    tags: ["ci", "failed"],
  }));
  assert.equal(line, "2026-11-21 23:59:59 [builds] HIGH Build #812 failed: test_login timed out (ci-01) #ci #failed");
});

Deno.test("formatEventLine() shows each part of the event", async (t) => {
  const cases: { name: string; draft: EventDraft; expected: string }[] = [
    { name: "body only", draft: { body: "hello" }, expected: "2026-11-21 23:59:59 [default] hello (ci-01)" },
    { name: "title only", draft: { title: "hello" }, expected: "2026-11-21 23:59:59 [default] hello (ci-01)" },
    { name: "priority 1", draft: { body: "x", priority: 1 }, expected: "2026-11-21 23:59:59 [default] min x (ci-01)" },
    { name: "priority 2", draft: { body: "x", priority: 2 }, expected: "2026-11-21 23:59:59 [default] low x (ci-01)" },
    { name: "priority 3", draft: { body: "x", priority: 3 }, expected: "2026-11-21 23:59:59 [default] x (ci-01)" },
    {
      name: "priority 5",
      draft: { body: "x", priority: 5 },
      expected: "2026-11-21 23:59:59 [default] URGENT x (ci-01)",
    },
    {
      name: "click",
      draft: { body: "x", click: "https://ci.example.org/812" },
      expected: "2026-11-21 23:59:59 [default] x (ci-01) <https://ci.example.org/812>",
    },
  ];
  for (const { name, draft, expected } of cases) {
    await t.step(name, () => assert.equal(formatEventLine(event(draft)), expected));
  }
});

Deno.test("formatEventLine() neutralises control sequences in every field", async (t) => {
  const cases: { name: string; draft: EventDraft; host?: string; mustNotContain: string[] }[] = [
    { name: "SGR in title", draft: { title: "\x1b[31mred" }, mustNotContain: ["\x1b"] },
    { name: "OSC title in body", draft: { body: "\x1b]0;title\x07" }, mustNotContain: ["\x1b", "\x07"] },
    { name: "carriage return in body", draft: { body: "done\r[builds] fake line" }, mustNotContain: ["\r"] },
    { name: "newlines in title and body", draft: { title: "a\nb", body: "c\n\nd\n" }, mustNotContain: ["\n"] },
    { name: "RTL override in title", draft: { title: "\u202egnp.exe" }, mustNotContain: ["\u202e"] },
    { name: "escape in a tag", draft: { body: "x", tags: ["\x1b[2J"] }, mustNotContain: ["\x1b"] },
    {
      name: "escape in the host",
      draft: { body: "x" },
      host: "evil\x1b]0;pwned\x07",
      mustNotContain: ["\x1b", "\x07"],
    },
    {
      name: "escape in the click URL",
      draft: { body: "x", click: "https://x.org/\x1b[31m" },
      mustNotContain: ["\x1b"],
    },
    { name: "C1 CSI and NEL", draft: { body: "\x9b2J\x85" }, mustNotContain: ["\x9b", "\x85"] },
    { name: "line separators", draft: { body: "a\u2028b\u2029c" }, mustNotContain: ["\u2028", "\u2029"] },
  ];
  for (const { name, draft, host, mustNotContain } of cases) {
    await t.step(name, () => {
      const line = formatEventLine(event(draft, host));
      for (const text of mustNotContain) {
        assert.ok(!line.includes(text), `${JSON.stringify(text)} in ${JSON.stringify(line)}`);
      }
      assert.doesNotMatch(line, TERMINAL_UNSAFE);
      assert.equal(line.split("\n").length, 1, "one line per event");
      assert.match(line, /^2026-11-21 23:59:59 \[default\] /);
    });
  }
});

Deno.test("formatEventLine() keeps each event on its own line", () => {
  const events = [
    event({ title: "first\nsecond", body: "third\r\nfourth" }),
    event({ body: "\n\n\n" }),
    event({ body: "plain" }),
  ];
  const output = events.map((e) => formatEventLine(e) + "\n").join("");
  assert.equal(output.split("\n").length - 1, events.length);
});
