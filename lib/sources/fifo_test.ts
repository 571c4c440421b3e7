import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "../../tests/helpers/wait.ts";
import type { EventDraft, HarkEvent } from "../event/event.ts";
import { EventError, HarkError } from "../errors.ts";
import { FifoSource, type FifoSourceInit } from "./fifo.ts";

const MAX_LINE = 512;

interface Harness {
  source: FifoSource;
  path: string;
  drafts: EventDraft[];
  dir: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A source on a fresh pipe in a temp dir, with a publish that records drafts. */
async function harness(
  init: Partial<FifoSourceInit> = {},
  publish?: (draft: EventDraft) => Promise<HarkEvent>,
): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "hark-fifo-" });
  const path = join(dir, "alert");
  const drafts: EventDraft[] = [];
  const source = new FifoSource({
    path,
    maxLineBytes: MAX_LINE,
    publish: publish ?? ((draft) => {
      drafts.push(draft);
      return Promise.resolve({} as HarkEvent);
    }),
    ...init,
  });
  return {
    source,
    path,
    drafts,
    dir,
    async [Symbol.asyncDispose]() {
      await source.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs a shell writer with the pipe in $FIFO; fails the test if it fails. */
async function sh(script: string, path: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", script],
    env: { FIFO: path },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.deepEqual(code, 0, `sh failed: ${new TextDecoder().decode(stderr)}`);
}

async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

function stats(source: FifoSource) {
  return source.stats() as {
    accepted: number;
    rejected: Record<string, number>;
    publish_failures: number;
    bytes_read: number;
    last_error: string | null;
    state: string;
    created: boolean;
  };
}

function rejectedTotal(source: FifoSource): number {
  return Object.values(stats(source).rejected).reduce((a, b) => a + b, 0);
}

Deno.test("FifoSource.start() creates the pipe with its mode and stop() removes it", async () => {
  await using h = await harness({ mode: 0o622 });
  await h.source.start();
  await h.source.start();
  const info = await Deno.lstat(h.path);
  assert(info.isFifo);
  assert.deepEqual(info.mode! & 0o7777, 0o622);
  assert.deepEqual(stats(h.source).created, true);
  assert.deepEqual(stats(h.source).state, "running");
  await Promise.all([h.source.stop(), h.source.stop()]);
  await h.source.stop();
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
  assert.deepEqual(stats(h.source).state, "stopped");
});

Deno.test("FifoSource.start() applies the default mode 0620", async () => {
  await using h = await harness();
  await h.source.start();
  assert.deepEqual((await Deno.lstat(h.path)).mode! & 0o7777, 0o620);
});

Deno.test("FifoSource.start() keeps a pipe it did not create", async () => {
  await using h = await harness();
  await sh('mkfifo -m 600 "$FIFO"', h.path);
  await h.source.start();
  assert.deepEqual(stats(h.source).created, false);
  // An existing pipe keeps its mode unless one is given.
  assert.deepEqual((await Deno.lstat(h.path)).mode! & 0o7777, 0o600);
  await sh('printf "hello|world\\n" >> "$FIFO"', h.path);
  await waitFor(() => h.drafts.length === 1, { message: "draft from existing pipe" });
  await h.source.stop();
  assert((await Deno.lstat(h.path)).isFifo);
});

Deno.test("FifoSource.start() refuses a path that is not a named pipe", async () => {
  await using h = await harness();
  await Deno.writeTextFile(h.path, "precious");
  const error = await rejection(() => h.source.start());
  assert(error instanceof HarkError);
  assert(error.message.includes("not a named pipe"), error.message);
  assert(error.message.includes("remove it or choose another path"), error.message);
  assert.deepEqual(await Deno.readTextFile(h.path), "precious");
  assert.deepEqual(stats(h.source).state, "stopped");
  // A directory too.
  await Deno.remove(h.path);
  await Deno.mkdir(h.path);
  await assert.rejects(() => h.source.start(), (e) => e instanceof HarkError && /not a named pipe/.test(e.message));
});

Deno.test("FifoSource.start() chowns to the current uid and gid", async () => {
  const uid = Deno.uid()!;
  const gid = Deno.gid()!;
  await using h = await harness({ owner: uid, group: gid });
  await h.source.start();
  const info = await Deno.lstat(h.path);
  assert.deepEqual([info.uid, info.gid], [uid, gid]);
});

Deno.test("FifoSource.start() chowns to user and group names", async () => {
  const name = async (flag: string) => {
    const { stdout } = await new Deno.Command("id", { args: [flag], stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(stdout).trim();
  };
  await using h = await harness({ owner: await name("-un"), group: await name("-gn") });
  await h.source.start();
  const info = await Deno.lstat(h.path);
  assert.deepEqual([info.uid, info.gid], [Deno.uid(), Deno.gid()]);
});

Deno.test("FifoSource.start() names an unknown owner", async () => {
  await using h = await harness({ owner: "no-such-user-hark" });
  const error = await rejection(() => h.source.start());
  assert(error instanceof HarkError && error.message.includes("no-such-user-hark"), error.message);
  // The pipe it made for the failed start is gone again.
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
});

Deno.test("FifoSource.stop() finishes while a writer still holds the pipe open", async () => {
  await using h = await harness();
  await h.source.start();
  using pipe = await Deno.open(h.path, { write: true });
  await pipe.write(new TextEncoder().encode("half a li"));
  await waitFor(() => stats(h.source).bytes_read === 9, { message: "piece read" });
  await h.source.stop();
  assert.deepEqual(h.drafts, []);
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
});

Deno.test("new FifoSource() checks its options", () => {
  const publish = () => Promise.resolve({} as HarkEvent);
  for (
    const init of [
      { path: "/tmp/x", maxLineBytes: 0, publish },
      { path: "", maxLineBytes: 10, publish },
      { path: "/tmp/x", maxLineBytes: 10, publish, mode: 0o10000 },
      { path: "/tmp/x", maxLineBytes: 10, publish, owner: "a:b" },
      { path: "/tmp/x", maxLineBytes: 10, publish, topic: "Not A Topic" },
    ]
  ) {
    let threw = false;
    try {
      new FifoSource(init);
    } catch (error) {
      threw = error instanceof HarkError;
    }
    assert(threw, JSON.stringify({ ...init, publish: undefined }));
  }
});

Deno.test("FifoSource reads lines from concurrent, partial and garbage writers", async (t) => {
  await using h = await harness({ topic: "alerts" });
  await h.source.start();

  await t.step("8 writers x 50 lines at once: each line becomes one draft", async () => {
    const writers = Array.from({ length: 8 }, (_, w) =>
      sh(
        `i=0; while [ $i -lt 50 ]; do printf 'writer ${w}|line %s\\n' "$i"; i=$((i+1)); done >> "$FIFO"`,
        h.path,
      ));
    await Promise.all(writers);
    await waitFor(() => h.drafts.length >= 400, { message: `400 drafts, got ${h.drafts.length}` });
    assert.deepEqual(h.drafts.length, 400);
    const seen = new Set(h.drafts.map((d) => `${d.title}/${d.body}`));
    for (let w = 0; w < 8; w++) {
      for (let i = 0; i < 50; i++) assert(seen.has(`writer ${w}/line ${i}`), `writer ${w} line ${i}`);
    }
    assert(h.drafts.every((d) => d.topic === "alerts"));
    assert.deepEqual(stats(h.source).accepted, 400);
    assert.deepEqual(rejectedTotal(h.source), 0);
  });

  await t.step("a line written in pieces waits for its newline", async () => {
    h.drafts.length = 0;
    // Pauses make the pieces arrive as separate reads; bytes_read shows the first one arrived.
    const before = stats(h.source).bytes_read;
    const writer = sh(
      `exec 3>>"$FIFO"; printf 'par' >&3; sleep 0.3; printf 'tial|bo' >&3; sleep 0.3; printf 'dy\\r\\n' >&3`,
      h.path,
    );
    await waitFor(() => stats(h.source).bytes_read > before, { message: "first piece read" });
    assert.deepEqual(h.drafts.length, 0);
    await writer;
    await waitFor(() => h.drafts.length === 1, { message: "joined line" });
    assert.deepEqual(h.drafts, [{ topic: "alerts", title: "partial", body: "body" }]);
  });

  await t.step("a partial line from the test process is held until its newline", async () => {
    h.drafts.length = 0;
    using pipe = await Deno.open(h.path, { write: true });
    const encoder = new TextEncoder();
    const before = stats(h.source).bytes_read;
    await pipe.write(encoder.encode("no bar here"));
    await waitFor(() => stats(h.source).bytes_read === before + 11, { message: "piece read" });
    assert.deepEqual(h.drafts.length, 0);
    await pipe.write(encoder.encode(", still\n\n\r\n   \n"));
    await waitFor(() => h.drafts.length === 1, { message: "line completed" });
    assert.deepEqual(h.drafts, [{ topic: "alerts", body: "no bar here, still" }]);
  });

  await t.step("garbage is rejected by reason and valid lines around it get through", async () => {
    h.drafts.length = 0;
    const script = [
      "printf 'before|ok\\n'",
      "printf '\\377\\376|bad utf8\\n'",
      "printf 'caf\\303|truncated utf8\\n'",
      "printf '{not json\\n'",
      `printf '{"title":"t","nope":1}\\n'`,
      `printf '{"priority":9,"body":"b"}\\n'`,
      `printf '%0${MAX_LINE + 1}d\\n' 0`,
      `printf 'x%03000d\\n' 0`,
      `printf '{"title":"json","body":"é","priority":"high","tags":["a"]}\\n'`,
      `printf '{"topic":"other","body":"b2"}\\n'`,
      `printf '%0${MAX_LINE}d\\n' 7`,
      "printf 'after|ok\\n'",
    ].join("; ");
    await sh(`{ ${script}; } >> "$FIFO"`, h.path);
    await waitFor(() => h.drafts.length === 5 && rejectedTotal(h.source) === 7, {
      message: `drafts ${h.drafts.length}, rejected ${JSON.stringify(stats(h.source).rejected)}`,
    });
    assert.deepEqual(stats(h.source).rejected, { too_long: 2, invalid_utf8: 2, invalid_json: 1, invalid_event: 2 });
    assert.deepEqual(h.drafts, [
      { topic: "alerts", title: "before", body: "ok" },
      { topic: "alerts", title: "json", body: "é", priority: 4, tags: ["a"] },
      { topic: "other", body: "b2" },
      { topic: "alerts", body: `${"0".repeat(MAX_LINE - 1)}7` },
      { topic: "alerts", title: "after", body: "ok" },
    ]);
    assert(stats(h.source).last_error !== null);
  });

  await t.step("an unterminated oversized line is counted once and skipped to its newline", async () => {
    h.drafts.length = 0;
    const before = stats(h.source).rejected.too_long;
    using pipe = await Deno.open(h.path, { write: true });
    const big = new TextEncoder().encode("y".repeat(MAX_LINE * 3));
    for (let i = 0; i < 3; i++) await pipe.write(big);
    await waitFor(() => stats(h.source).rejected.too_long === before + 1, { message: "too_long counted" });
    await pipe.write(new TextEncoder().encode("tail of the long line\nfresh|line\n"));
    await waitFor(() => h.drafts.length === 1, { message: "line after the long one" });
    assert.deepEqual(h.drafts, [{ topic: "alerts", title: "fresh", body: "line" }]);
    assert.deepEqual(stats(h.source).rejected.too_long, before + 1);
  });

  await t.step("a writer long after every other one closed still gets through", async () => {
    h.drafts.length = 0;
    for (let round = 0; round < 3; round++) {
      await sh(`echo "New station:|10.0.0.${round}" >> "$FIFO"`, h.path);
      await waitFor(() => h.drafts.length === round + 1, { message: `round ${round}` });
    }
    assert.deepEqual(h.drafts.map((d) => d.body), ["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
    assert.deepEqual(stats(h.source).state, "running");
  });

  await h.source.stop();
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
});

Deno.test("FifoSource counts refused publishes and keeps reading", async () => {
  const published: EventDraft[] = [];
  await using h = await harness({}, (draft) => {
    if (draft.body === "limited") return Promise.reject(new HarkError("rate limit: try again shortly"));
    if (draft.body === "empty-ish") return Promise.reject(new EventError("nothing to send"));
    published.push(draft);
    return Promise.resolve({} as HarkEvent);
  });
  await h.source.start();
  await sh(`printf 'limited\\nempty-ish\\nlimited\\nfine\\n' >> "$FIFO"`, h.path);
  await waitFor(() => published.length === 1, { message: "fine line" });
  const s = stats(h.source);
  assert.deepEqual(s.publish_failures, 2);
  assert.deepEqual(s.rejected.invalid_event, 1);
  assert.deepEqual(s.accepted, 1);
  assert.deepEqual(published, [{ topic: "default", body: "fine" }]);
});

Deno.test("FifoSource.stop() during start() and restart work", async () => {
  await using h = await harness();
  const starting = h.source.start();
  await h.source.stop();
  await starting;
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
  assert.deepEqual(stats(h.source).state, "stopped");

  await h.source.start();
  await sh(`echo one >> "$FIFO"`, h.path);
  await waitFor(() => h.drafts.length === 1, { message: "first run" });
  await h.source.stop();
  await h.source.start();
  await sh(`echo two >> "$FIFO"`, h.path);
  await waitFor(() => h.drafts.length === 2, { message: "second run" });
  assert.deepEqual(h.drafts.map((d) => d.body), ["one", "two"]);
});

Deno.test("FifoSource.stop() waits for a pending line's publish", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let calls = 0;
  await using h = await harness({}, async () => {
    calls++;
    await gate;
    return {} as HarkEvent;
  });
  await h.source.start();
  await sh(`printf 'a\\nb\\n' >> "$FIFO"`, h.path);
  await waitFor(() => calls === 1, { message: "publish called" });
  const stopping = h.source.stop();
  release();
  await stopping;
  // The second line arrived during stop: it is dropped, not published.
  assert.deepEqual(calls, 1);
});

Deno.test("FifoSource.stop() finishes while a writer keeps the pipe full", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let calls = 0;
  await using h = await harness({}, async () => {
    calls++;
    await gate;
    return {} as HarkEvent;
  });
  await h.source.start();
  // 300 KB cannot fit in the pipe while publish is held: the writer blocks on a full pipe,
  // and gets EPIPE (SIGPIPE ignored) once the source has closed its end.
  const writer = sh(
    `trap "" PIPE; i=0; while [ $i -lt 20000 ]; do echo "flood|line $i" || break; i=$((i+1)); done >> "$FIFO" 2>/dev/null; exit 0`,
    h.path,
  );
  await waitFor(() => calls === 1, { message: "publish called" });
  const stopping = h.source.stop();
  release();
  await stopping;
  await writer;
  assert.equal(calls, 1);
  await assert.rejects(() => Deno.lstat(h.path), Deno.errors.NotFound);
});
