import assert from "node:assert/strict";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import { HarkError } from "../errors.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { compileRules, WatchSource, type WatchSourceInit } from "./watch.ts";

interface Harness {
  dir: string;
  path: string;
  drafts: EventDraft[];
  source: WatchSource;
  bodies(): string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** A watch source on a fresh temp dir whose publish records drafts. */
async function harness(
  options: Partial<WatchSourceInit> & { content?: string; mode?: "watch" | "poll" } = {},
): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "hark_watch_" });
  const path = `${dir}/app.log`;
  if (options.content !== undefined) await Deno.writeTextFile(path, options.content);
  const drafts: EventDraft[] = [];
  const publish = options.publish ?? ((draft: EventDraft) => {
    drafts.push(draft);
    return Promise.resolve({} as HarkEvent);
  });
  const source = new WatchSource({
    path,
    rules: [{ pattern: "ERROR (?<msg>.*)", topic: "logs", priority: 4 }],
    host: "test-host",
    maxLineBytes: 1024,
    // The poll-only mode checks often; with a watcher the backstop runs every 10 × pollMs.
    pollMs: options.mode === "poll" ? 20 : 50,
    watch: options.mode !== "poll",
    ...options,
    publish,
  });
  await source.start();
  return {
    dir,
    path,
    drafts,
    source,
    bodies: () => drafts.map((draft) => draft.body!),
    async [Symbol.asyncDispose]() {
      await source.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function append(path: string, text: string): Promise<void> {
  return Deno.writeTextFile(path, text, { append: true });
}

/** Writes a marker line and waits for it: every line before it has then been handled. */
async function settle(h: Harness, marker = "ERROR end"): Promise<void> {
  await append(h.path, `${marker}\n`);
  await waitFor(() => h.bodies().includes(marker), { message: `${marker} published; got ${h.bodies()}` });
}

const MODES = ["watch", "poll"] as const;

Deno.test("WatchSource follows appends from the end of the file", async (t) => {
  for (const mode of MODES) {
    await t.step(mode, async () => {
      // The last line is unfinished at start: its tail is not a line of its own.
      await using h = await harness({ mode, content: "ERROR old\nERROR half" });
      await append(h.path, " way\nINFO fine\nERROR disk full\nDEBUG ERRORS are not at the start\n");
      await append(h.path, "ERROR second\n");
      await settle(h);
      assert.deepEqual(h.bodies(), [
        "ERROR disk full",
        "ERROR second",
        "ERROR end",
      ]);
      const [first] = h.drafts;
      assert.deepEqual(first.topic, "logs");
      assert.deepEqual(first.priority, 4);
      assert.deepEqual(first.title, "app.log");
      const stats = h.source.stats();
      assert.deepEqual(stats.lines, 5);
      assert.deepEqual(stats.matched, 3);
      assert.deepEqual(stats.published, 3);
      assert.deepEqual(stats.state, "following");
      assert.deepEqual(stats.watcher, mode === "watch");
    });
  }
});

Deno.test("WatchSource publishes each line once across rotation by rename and recreate", async (t) => {
  for (const mode of MODES) {
    await t.step(mode, async () => {
      await using h = await harness({ mode, content: "" });
      await append(h.path, "ERROR a1\n");
      await waitFor(() => h.drafts.length === 1);
      // Written just before the rename: only the old file has it.
      await append(h.path, "ERROR a2\nINFO a3\nERROR unfinished");
      await Deno.rename(h.path, `${h.path}.1`);
      await Deno.writeTextFile(h.path, "ERROR b1\n");
      await append(h.path, "ERROR b2\n");
      await settle(h);
      // The old file's unfinished last line will never get its newline: it counts as a line.
      assert.deepEqual(h.bodies(), ["ERROR a1", "ERROR a2", "ERROR unfinished", "ERROR b1", "ERROR b2", "ERROR end"]);
      assert.deepEqual(h.source.stats().rotations, 1);

      // A second rotation, this time with a pause where the path is missing.
      await Deno.rename(h.path, `${h.path}.2`);
      await append(`${h.path}.2`, "ERROR c1\n");
      await waitFor(() => h.bodies().includes("ERROR c1"));
      await Deno.writeTextFile(h.path, "ERROR d1\n");
      await settle(h, "ERROR end2");
      assert.deepEqual(h.bodies().slice(6), ["ERROR c1", "ERROR d1", "ERROR end2"]);
      assert.deepEqual(h.source.stats().rotations, 2);
    });
  }
});

Deno.test("WatchSource starts again from the top after truncation", async (t) => {
  for (const mode of MODES) {
    await t.step(mode, async () => {
      await using h = await harness({
        mode,
        content: "ERROR before start, long enough to be longer than what follows\n",
      });
      await append(h.path, "ERROR t1 with some more text to make the file long\n");
      await waitFor(() => h.drafts.length === 1);
      await Deno.truncate(h.path);
      await append(h.path, "ERROR t2\n");
      await settle(h);
      assert.deepEqual(h.bodies(), ["ERROR t1 with some more text to make the file long", "ERROR t2", "ERROR end"]);
      assert.deepEqual(h.source.stats().truncations, 1);
      assert.deepEqual(h.source.stats().rotations, 0);
    });
  }
});

Deno.test("WatchSource waits for a missing file and reads it from its start", async (t) => {
  for (const mode of MODES) {
    await t.step(mode, async () => {
      await using h = await harness({ mode });
      assert.deepEqual(h.source.stats().state, "waiting");
      await Deno.writeTextFile(h.path, "ERROR first\nINFO second\n");
      await settle(h);
      assert.deepEqual(h.bodies(), ["ERROR first", "ERROR end"]);
    });
  }

  await t.step("the directory appears later too", async () => {
    const dir = await Deno.makeTempDir({ prefix: "hark_watch_" });
    const drafts: EventDraft[] = [];
    const source = new WatchSource({
      path: `${dir}/sub/app.log`,
      rules: [{ pattern: "ERROR" }],
      host: "h",
      maxLineBytes: 100,
      pollMs: 20,
      publish: (draft) => (drafts.push(draft), Promise.resolve({} as HarkEvent)),
    });
    try {
      await source.start();
      assert.deepEqual(source.stats().watcher, false);
      await Deno.mkdir(`${dir}/sub`);
      await Deno.writeTextFile(`${dir}/sub/app.log`, "ERROR late\n");
      await waitFor(() => drafts.length === 1);
      assert.deepEqual(drafts[0].body, "ERROR late");
      assert.deepEqual(drafts[0].topic, undefined);
      await waitFor(() => source.stats().watcher === true, { message: "watcher set up once the directory exists" });
    } finally {
      await source.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("WatchSource holds a partial line until its newline", async () => {
  await using h = await harness({ content: "" });
  await append(h.path, "ERROR par");
  await waitFor(() => h.source.stats().offset === 9, { message: "partial line read" });
  assert.deepEqual(h.drafts.length, 0);
  await append(h.path, "tial\r\n");
  await settle(h);
  assert.deepEqual(h.bodies(), ["ERROR partial", "ERROR end"]);
});

Deno.test("WatchSource cuts over-long lines and counts them", async () => {
  await using h = await harness({ content: "", maxLineBytes: 16 });
  await append(h.path, `ERROR ${"x".repeat(10_000)}\nERROR short\n`);
  await settle(h);
  assert.deepEqual(h.bodies(), ["ERROR xxxxxxxxxx", "ERROR short", "ERROR end"]);
  assert.deepEqual(h.source.stats().cut, 1);
});

Deno.test("WatchSource fills fields from named groups and templates", async (t) => {
  const cases: { name: string; rule: Record<string, unknown>; line: string; expect: Partial<EventDraft> }[] = [
    {
      name: "templates with host, path, line and groups",
      rule: {
        pattern: "^(?<level>ERROR|WARN) (?<msg>.*)$",
        topic: "logs",
        title: "{level} on {host}",
        body: "{msg} ({line})",
        tags: ["app"],
      },
      line: "WARN disk at 91%",
      expect: { title: "WARN on test-host", body: "disk at 91% (WARN disk at 91%)", priority: 3, tags: ["app"] },
    },
    {
      name: "groups named after event fields fill them directly",
      rule: {
        pattern: "^\\[(?<priority>\\w+)\\] (?<title>[^:]+): (?<body>.*?)(?: #(?<tags>\\S+))?$",
        title: "ignored {path}",
        tags: ["app"],
      },
      line: "[urgent] db down: replica lost #db,pager",
      expect: { title: "db down", body: "replica lost", priority: 5, tags: ["app", "db", "pager"] },
    },
    {
      name: "a priority the line gets wrong keeps the rule's",
      rule: { pattern: "^(?<priority>\\S+) (?<msg>.*)$", priority: "high", body: "{msg}" },
      line: "loud hello",
      expect: { title: "app.log", body: "hello", priority: 4, tags: [] },
    },
    {
      name: "an optional group that did not take part is empty",
      rule: { pattern: "^ERROR(?: code=(?<code>\\d+))?", title: "code [{code}]" },
      line: "ERROR without code",
      expect: { title: "code []", body: "ERROR without code" },
    },
    {
      name: "colour codes and control characters are cleaned before matching",
      rule: { pattern: "^ERROR (?<msg>.*)$", body: "{msg}" },
      line: "\x1b[31mERROR\x1b[0m bell\x07",
      expect: { body: "bell\uFFFD" },
    },
  ];
  for (const { name, rule, line, expect } of cases) {
    await t.step(name, async () => {
      await using h = await harness({ content: "", rules: [{ pattern: "^ERROR end$" }, rule as never] });
      await append(h.path, `${line}\n`);
      await settle(h);
      const draft = h.drafts[0];
      assert.deepEqual(h.bodies()[1], "ERROR end");
      for (const [key, value] of Object.entries(expect)) {
        assert.deepEqual(draft[key as keyof EventDraft], value, key);
      }
      assert.deepEqual(draft.data, { path: h.path });
      assert.deepEqual(h.drafts.length, 2);
    });
  }

  await t.step("the source's topic serves rules without one", async () => {
    await using h = await harness({
      content: "",
      topic: "app",
      rules: [{ pattern: "ERROR" }, { pattern: "WARN", topic: "w" }],
    });
    await append(h.path, "WARN x\n");
    await settle(h);
    assert.deepEqual(h.drafts.map((draft) => draft.topic), ["w", "app"]);
  });

  await t.step("the first matching rule wins", async () => {
    await using h = await harness({
      content: "",
      rules: [{ pattern: "ERROR", topic: "first" }, { pattern: "ERROR", topic: "second" }],
    });
    await settle(h);
    assert.deepEqual(h.drafts.map((draft) => draft.topic), ["first"]);
  });
});

Deno.test("WatchSource turns a log storm into one summary per minute", async (t) => {
  await t.step("summary when the minute ends", async () => {
    let clock = 1_000_000;
    await using h = await harness({ content: "", ratePerMinute: 3, now: () => clock });
    await append(h.path, Array.from({ length: 10 }, (_, i) => `ERROR storm ${i}\n`).join(""));
    await waitFor(() => h.source.stats().matched === 10);
    assert.deepEqual(h.bodies(), ["ERROR storm 0", "ERROR storm 1", "ERROR storm 2"]);
    assert.deepEqual(h.source.stats().suppressed, 7);
    clock += 60_000;
    await settle(h);
    const summary = h.drafts[3];
    assert.deepEqual(summary.body, `7 more matching lines in ${h.path} in the last minute`);
    assert.deepEqual(summary.title, `7 more matching lines in ${h.path} on test-host`);
    assert.deepEqual(summary.topic, "logs");
    assert.deepEqual(summary.priority, 4);
    assert.deepEqual(summary.tags, ["summary"]);
    assert.deepEqual(h.bodies()[4], "ERROR end");
    assert.deepEqual(h.source.stats().summaries, 1);
  });

  await t.step("a pending summary is published on stop", async () => {
    const clock = 5;
    const h = await harness({ content: "", ratePerMinute: 1, now: () => clock });
    try {
      await append(h.path, "ERROR a\nERROR b\nERROR c\n");
      await waitFor(() => h.source.stats().matched === 3);
      await h.source.stop();
      assert.deepEqual(h.bodies(), ["ERROR a", `2 more matching lines in ${h.path} in the last minute`]);
    } finally {
      await h[Symbol.asyncDispose]();
    }
  });

  await t.step("rate 0 only summarises", async () => {
    const h = await harness({ content: "", ratePerMinute: 0 });
    try {
      await append(h.path, "ERROR a\n");
      await waitFor(() => h.source.stats().suppressed === 1);
      assert.deepEqual(h.drafts.length, 0);
    } finally {
      await h[Symbol.asyncDispose]();
    }
    assert.deepEqual(h.bodies(), [`1 more matching line in ${h.path} in the last minute`]);
  });
});

Deno.test("WatchSource counts publish failures and carries on", async () => {
  let calls = 0;
  const published: string[] = [];
  await using h = await harness({
    content: "",
    publish: (draft) => {
      calls++;
      if (calls === 1) return Promise.reject(new HarkError("topic refused"));
      published.push(draft.body!);
      return Promise.resolve({} as HarkEvent);
    },
  });
  await append(h.path, "ERROR refused\nERROR accepted\n");
  await waitFor(() => published.length === 1);
  assert.deepEqual(published, ["ERROR accepted"]);
  const stats = h.source.stats();
  assert.deepEqual(stats.publish_errors, 1);
  assert.deepEqual(stats.published, 1);
  assert.match(String(stats.last_error), /topic refused/);
});

Deno.test("WatchSource start() and stop() are idempotent", async () => {
  await using h = await harness({ content: "" });
  await Promise.all([h.source.start(), h.source.start()]);
  for (let i = 0; i < 5; i++) await h.source.stop();
  assert.deepEqual(h.source.stats().state, "stopped");
  await h.source.start();
  // A start while a stop is still releasing handles waits for it.
  await Promise.all([h.source.stop(), h.source.start()]);
  await settle(h);
  assert.deepEqual(h.bodies(), ["ERROR end"]);
  assert.deepEqual(h.source.stats().state, "following");
});

Deno.test("compileRules() rejects bad rules, naming the rule and why", async (t) => {
  const cases: { name: string; rules: unknown[]; error: RegExp }[] = [
    { name: "no rules", rules: [], error: /at least one rule/ },
    { name: "no pattern", rules: [{ topic: "x" }], error: /watch rule 1: needs a pattern/ },
    {
      name: "invalid regex",
      rules: [{ pattern: "ok" }, { pattern: "ERROR (?<msg>.*" }],
      error: /watch rule 2 .*invalid pattern/,
    },
    {
      name: "nested quantifiers",
      rules: [{ pattern: "^(a+)+$" }],
      error: /watch rule 1 .*nests unbounded quantifiers in \(a\+\)\+/,
    },
    { name: "nested deeper", rules: [{ pattern: "((?:\\w+\\s?))*x" }], error: /catastrophically/ },
    { name: "bounded repeat of unbounded", rules: [{ pattern: "(?:.*,){2,}" }], error: /nests/ },
    { name: "bad topic", rules: [{ pattern: "x", topic: "Logs!" }], error: /watch rule 1 .*invalid topic/ },
    { name: "bad priority", rules: [{ pattern: "x", priority: 9 }], error: /invalid priority/ },
    { name: "bad tag", rules: [{ pattern: "x", tags: ["a b"] }], error: /invalid tag/ },
    { name: "unknown placeholder", rules: [{ pattern: "(?<msg>.*)", title: "{mgs}" }], error: /title uses \{mgs\}/ },
    { name: "unknown key", rules: [{ pattern: "x", colour: "red" }], error: /unknown key "colour"/ },
  ];
  for (const { name, rules, error } of cases) {
    await t.step(name, () => {
      assert.throws(() => compileRules(rules as never), (thrown) => {
        assert.ok(thrown instanceof HarkError);
        assert.match(thrown.message, error);
        return true;
      });
    });
  }

  await t.step("accepts ordinary patterns", () => {
    const compiled = compileRules([
      { pattern: "ERROR (?<msg>.*)", topic: "logs", priority: "high", title: "ERROR on {host}", body: "{msg} {line}" },
      { pattern: "(a|b)+c{2,3}[+*]\\(x+\\)+", tags: ["x"] },
      { pattern: "(?<=x)y(?!z)(\\d{1,3}\\.){3}\\d+" },
    ]);
    assert.deepEqual(compiled.map((rule) => rule.priority), [4, 3, 3]);
    assert.ok(compiled[0].regex.unicodeSets);
  });
});
