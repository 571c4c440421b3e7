import assert from "node:assert/strict";
import { exists } from "../lib/util/files.ts";
import { FileSink } from "./file.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../lib/event/event.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";

const NOW = Date.UTC(2026, 10, 21, 23, 59, 59, 123);
const ulid = monotonicUlid(() => NOW);
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

function event(draft: EventDraft = {}): HarkEvent {
  return createEvent({ body: "b", ...draft }, { id: ulid(), now: NOW, host: "h", peer: "12D3KooWTest" });
}

/** A temp dir that removes itself: `await using dir = await tempDir()`. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "hark_file_sink_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The file's JSON lines, checking that the file is valid UTF-8 and ends with a newline. */
async function readJsonLines(path: string): Promise<HarkEvent[]> {
  const text = strictDecoder.decode(await Deno.readFile(path));
  if (text === "") return [];
  assert.ok(text.endsWith("\n"), "ends with a newline");
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line));
}

Deno.test("FileSink is named after its path", () => {
  assert.equal(new FileSink({ path: "/var/log/hark.jsonl", maxBytes: 1024, keep: 1 }).name, "file:/var/log/hark.jsonl");
});

Deno.test("FileSink.deliver() appends one JSON line per event", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/events.jsonl`;
  const sink = new FileSink({ path, maxBytes: 1024 * 1024, keep: 2 });
  const events = [
    event({ title: "one" }),
    event({ title: "two", tags: ["ci"], data: { n: 2 } }),
    event({ title: "three", priority: 5 }),
  ];
  try {
    for (const e of events) await sink.deliver(e);
  } finally {
    await sink.close();
  }
  assert.deepEqual(await readJsonLines(path), events);
  const text = await Deno.readTextFile(path);
  assert.equal(text, events.map((e) => JSON.stringify(e) + "\n").join(""));
});

Deno.test({
  name: "FileSink.deliver() creates the file readable by its owner only",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/events.jsonl`;
    const sink = new FileSink({ path, maxBytes: 1024, keep: 1 });
    try {
      await sink.deliver(event());
    } finally {
      await sink.close();
    }
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  },
});

Deno.test("FileSink.deliver() writes valid JSON lines for hostile text", async (t) => {
  const cases: { name: string; draft: EventDraft }[] = [
    { name: "newlines", draft: { title: "line 1\nline 2", body: "a\r\nb\rc\n" } },
    { name: "NUL and C0 controls", draft: { title: "\u0000\u0001\u0007\u0008\u001f", body: "\t\v\f" } },
    { name: "terminal escapes", draft: { title: "\x1b[31mred\x1b[0m", body: "\x1b]0;title\x07" } },
    { name: "DEL and C1 controls", draft: { body: "\x7f\x85\x9b" } },
    { name: "lone surrogates", draft: { title: "\ud800", body: "x\udfffy\ud83d" } },
    { name: "line and paragraph separators", draft: { body: "a\u2028b\u2029c" } },
    { name: "bidi override", draft: { title: "\u202eevil\u202c" } },
    { name: "quotes and backslashes", draft: { body: '"}\n{"id":"forged"}\\' } },
    { name: "hostile data", draft: { body: "x", data: { "\n": "\u0000", list: ["\ud800", "\x1b"] } } },
    { name: "emoji", draft: { title: "😀 build ✅" } },
  ];
  await using dir = await tempDir();
  for (const [i, { name, draft }] of cases.entries()) {
    await t.step(name, async () => {
      const path = `${dir.path}/hostile-${i}.jsonl`;
      const sink = new FileSink({ path, maxBytes: 1024 * 1024, keep: 1 });
      const events = [event(draft), event({ title: "after" })];
      try {
        for (const e of events) await sink.deliver(e);
      } finally {
        await sink.close();
      }
      const bytes = await Deno.readFile(path);
      // JSON escapes C0 controls (DEL and C1 stay raw, which JSON allows): the
      // only C0 bytes left are the line ends.
      const controls = bytes.filter((byte) => byte < 0x20);
      assert.deepEqual([...controls], [0x0a, 0x0a], "exactly one newline per event and no raw C0 controls");
      const lines = await readJsonLines(path);
      assert.equal(lines.length, 2);
      assert.deepEqual(lines, events);
    });
  }
});

Deno.test("FileSink.deliver() rotates by size and keeps `keep` files", async (t) => {
  const cases: { keep: number; files: Record<string, string[]> }[] = [
    { keep: 1, files: { "": ["e9"], ".1": ["e7", "e8"] } },
    { keep: 2, files: { "": ["e9"], ".1": ["e7", "e8"], ".2": ["e5", "e6"] } },
    { keep: 5, files: { "": ["e9"], ".1": ["e7", "e8"], ".2": ["e5", "e6"], ".3": ["e3", "e4"], ".4": ["e1", "e2"] } },
  ];
  for (const { keep, files } of cases) {
    await t.step(`keep = ${keep}`, async () => {
      await using dir = await tempDir();
      const path = `${dir.path}/events.jsonl`;
      const events = Array.from({ length: 9 }, (_, i) => event({ title: `e${i + 1}` }));
      const lineBytes = JSON.stringify(events[0]).length + 1;
      // Room for exactly two events per file.
      const sink = new FileSink({ path, maxBytes: 2 * lineBytes, keep });
      try {
        for (const e of events) await sink.deliver(e);
      } finally {
        await sink.close();
      }
      for (const [suffix, titles] of Object.entries(files)) {
        const lines = await readJsonLines(path + suffix);
        assert.deepEqual(lines.map((e) => e.title), titles, `events.jsonl${suffix}`);
        assert.ok((await Deno.stat(path + suffix)).size <= 2 * lineBytes);
      }
      const names = (await Array.fromAsync(Deno.readDir(dir.path))).map((entry) => entry.name).sort();
      assert.deepEqual(names, Object.keys(files).map((suffix) => `events.jsonl${suffix}`).sort());
      assert.equal(await exists(`${path}.${keep + 1}`), false);
    });
  }
});

Deno.test("FileSink.deliver() writes an event larger than maxBytes to a file of its own", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/events.jsonl`;
  const sink = new FileSink({ path, maxBytes: 100, keep: 3 });
  try {
    await sink.deliver(event({ title: "big-1" }));
    await sink.deliver(event({ title: "big-2" }));
  } finally {
    await sink.close();
  }
  assert.deepEqual((await readJsonLines(path)).map((e) => e.title), ["big-2"]);
  assert.deepEqual((await readJsonLines(`${path}.1`)).map((e) => e.title), ["big-1"]);
});

Deno.test("FileSink.deliver() appends to an existing file after reopening", async (t) => {
  await t.step("a new sink on the same path", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/events.jsonl`;
    const first = new FileSink({ path, maxBytes: 1024 * 1024, keep: 1 });
    const a = event({ title: "a" });
    const b = event({ title: "b" });
    try {
      await first.deliver(a);
    } finally {
      await first.close();
    }
    const second = new FileSink({ path, maxBytes: 1024 * 1024, keep: 1 });
    try {
      await second.deliver(b);
    } finally {
      await second.close();
    }
    assert.deepEqual(await readJsonLines(path), [a, b]);
  });

  await t.step("the same sink after close()", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/events.jsonl`;
    const sink = new FileSink({ path, maxBytes: 1024 * 1024, keep: 1 });
    const events = [event({ title: "a" }), event({ title: "b" })];
    try {
      await sink.deliver(events[0]);
      await sink.close();
      await sink.deliver(events[1]);
    } finally {
      await sink.close();
    }
    assert.deepEqual(await readJsonLines(path), events);
  });

  await t.step("text already in the file is kept", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/events.jsonl`;
    const old = event({ title: "old" });
    await Deno.writeTextFile(path, JSON.stringify(old) + "\n");
    const sink = new FileSink({ path, maxBytes: 1024 * 1024, keep: 1 });
    const fresh = event({ title: "new" });
    try {
      await sink.deliver(fresh);
    } finally {
      await sink.close();
    }
    assert.deepEqual(await readJsonLines(path), [old, fresh]);
  });

  await t.step("the existing size counts towards rotation", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/events.jsonl`;
    const events = [event({ title: "e1" }), event({ title: "e2" }), event({ title: "e3" })];
    const lineBytes = JSON.stringify(events[0]).length + 1;
    const options = { path, maxBytes: 2 * lineBytes, keep: 1 };
    const first = new FileSink(options);
    try {
      await first.deliver(events[0]);
      await first.deliver(events[1]);
    } finally {
      await first.close();
    }
    const second = new FileSink(options);
    try {
      await second.deliver(events[2]);
    } finally {
      await second.close();
    }
    assert.deepEqual((await readJsonLines(path)).map((e) => e.title), ["e3"]);
    assert.deepEqual((await readJsonLines(`${path}.1`)).map((e) => e.title), ["e1", "e2"]);
  });
});

Deno.test("FileSink.close() is idempotent", async () => {
  await using dir = await tempDir();
  const sink = new FileSink({ path: `${dir.path}/events.jsonl`, maxBytes: 1024, keep: 1 });
  await sink.close();
  await sink.deliver(event());
  for (let i = 0; i < 5; i++) await sink.close();
});

Deno.test("FileSink.deliver() fails when the directory does not exist", async () => {
  await using dir = await tempDir();
  const sink = new FileSink({ path: `${dir.path}/missing/events.jsonl`, maxBytes: 1024, keep: 1 });
  try {
    await assert.rejects(() => sink.deliver(event()), Deno.errors.NotFound);
  } finally {
    await sink.close();
  }
});

Deno.test("FileSink after a crash writes the event in flight once", async (t) => {
  const line = (event: HarkEvent) => JSON.stringify(event) + "\n";
  const ids = async (path: string) => (await readJsonLines(path)).map((event) => event.id);
  const cases: {
    name: string;
    /** What the crash left: the live file and `.1`. */
    files: (events: HarkEvent[]) => [string, string?];
    /** The event the router hands over again with `repeat` set. */
    repeat: number;
    live: number[];
    rotated?: number[];
  }[] = [
    {
      name: "written whole: not again",
      files: (e) => [line(e[0]) + line(e[1])],
      repeat: 1,
      live: [0, 1, 2],
    },
    {
      name: "torn: cut, then written whole",
      files: (e) => [line(e[0]) + line(e[1]).slice(0, 40)],
      repeat: 1,
      live: [0, 1, 2],
    },
    {
      name: "not begun: written",
      files: (e) => [line(e[0])],
      repeat: 1,
      live: [0, 1, 2],
    },
    {
      name: "a last line longer than one read block",
      files: (e) => [line(e[0]) + line(e[1])],
      repeat: 1,
      live: [0, 1, 2],
    },
    {
      name: "written just after a rotation: not again",
      files: (e) => [line(e[1]), line(e[0])],
      repeat: 1,
      live: [1, 2],
      rotated: [0],
    },
    {
      name: "rotated, not yet written: written",
      files: (e) => ["", line(e[0])],
      repeat: 1,
      live: [1, 2],
      rotated: [0],
    },
  ];
  for (const { name, files, repeat, live, rotated } of cases) {
    await t.step(name, async () => {
      await using dir = await tempDir();
      const path = `${dir.path}/events.jsonl`;
      // A sink writes what the router gives it; limits were checked on arrival (and may be up to 1 MiB).
      const body = name.includes("longer") ? "x".repeat(100_000) : "b";
      const events = [event(), event(), event()].map((made) => ({ ...made, body }));
      const [text, older] = files(events);
      await Deno.writeTextFile(path, text);
      if (older !== undefined) await Deno.writeTextFile(`${path}.1`, older);
      const sink = new FileSink({ path, maxBytes: 1 << 20, keep: 2 });
      try {
        await sink.deliver(events[repeat], { signal: AbortSignal.timeout(5000), repeat: true });
        for (const next of events.slice(repeat + 1)) await sink.deliver(next);
      } finally {
        await sink.close();
      }
      assert.deepEqual(await ids(path), live.map((i) => events[i].id));
      if (rotated) assert.deepEqual(await ids(`${path}.1`), rotated.map((i) => events[i].id));
    });
  }
});

Deno.test("FileSink writes an event handed over again without `repeat` (not in flight at a crash)", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/events.jsonl`;
  const sink = new FileSink({ path, maxBytes: 1 << 20, keep: 1 });
  const once = event();
  try {
    await sink.deliver(once);
    await sink.deliver(once);
  } finally {
    await sink.close();
  }
  assert.equal((await readJsonLines(path)).length, 2, "only the router's `repeat` makes the sink look");
});
