import assert from "node:assert/strict";
import { LineSplitter, LineTooLongError, readLines } from "./lines.ts";

const encoder = new TextEncoder();

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks.map((chunk) => typeof chunk === "string" ? encoder.encode(chunk) : chunk));
}

async function collect(stream: ReadableStream<Uint8Array>, maxBytes = 1024): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(stream, maxBytes)) lines.push(line);
  return lines;
}

Deno.test("readLines() splits a stream into lines", async (t) => {
  const euro = encoder.encode("€"); // three bytes
  const cases: { name: string; chunks: (string | Uint8Array)[]; lines: string[] }[] = [
    { name: "one chunk", chunks: ["a\nbb\nccc\n"], lines: ["a", "bb", "ccc"] },
    { name: "a line split across chunks", chunks: ["hel", "lo wo", "rld\nnext\n"], lines: ["hello world", "next"] },
    { name: "newline alone in a chunk", chunks: ["abc", "\n", "def", "\n"], lines: ["abc", "def"] },
    { name: "one byte per chunk", chunks: [..."ab\ncd\n"], lines: ["ab", "cd"] },
    {
      name: "a UTF-8 character split across chunks",
      chunks: ["price ", euro.subarray(0, 1), euro.subarray(1, 2), euro.subarray(2), "5\n"],
      lines: ["price €5"],
    },
    { name: "trailing line without newline", chunks: ["first\nlast"], lines: ["first", "last"] },
    { name: "trailing line split across chunks", chunks: ["first\nla", "st"], lines: ["first", "last"] },
    { name: "no newline at all", chunks: ["only"], lines: ["only"] },
    { name: "empty lines are kept", chunks: ["\n\na\n\n"], lines: ["", "", "a", ""] },
    { name: "no trailing empty line after a final newline", chunks: ["a\n"], lines: ["a"] },
    { name: "empty stream", chunks: [], lines: [] },
    { name: "empty chunks", chunks: ["", "a", "", "\n", ""], lines: ["a"] },
    { name: "JSON lines", chunks: ['{"a":1}\n{"b"', ':"x\\ny"}\n'], lines: ['{"a":1}', '{"b":"x\\ny"}'] },
  ];
  for (const { name, chunks, lines } of cases) {
    await t.step(name, async () => assert.deepEqual(await collect(streamOf(chunks)), lines));
  }
});

Deno.test("readLines() accepts a line of exactly maxBytes", async (t) => {
  const cases: { name: string; chunks: string[] }[] = [
    { name: "with newline", chunks: ["12345678\n"] },
    { name: "across chunks", chunks: ["1234", "5678", "\n"] },
    { name: "without newline", chunks: ["1234", "5678"] },
  ];
  for (const { name, chunks } of cases) {
    await t.step(name, async () => assert.deepEqual(await collect(streamOf(chunks), 8), ["12345678"]));
  }
});

Deno.test("readLines() throws LineTooLongError past maxBytes", async (t) => {
  const cases: { name: string; chunks: string[]; before: string[] }[] = [
    { name: "in one chunk", chunks: ["ok\n123456789\n"], before: ["ok"] },
    { name: "across chunks", chunks: ["ok\n1234", "5678", "9\n"], before: ["ok"] },
    { name: "a chunk with no newline", chunks: ["ok\n", "123456789"], before: ["ok"] },
    { name: "never ending line", chunks: ["12345", "67890", "12345"], before: [] },
    { name: "multibyte characters count as bytes", chunks: ["€€€\n"], before: [] },
  ];
  for (const { name, chunks, before } of cases) {
    await t.step(name, async () => {
      const stream = streamOf(chunks);
      const lines: string[] = [];
      await assert.rejects(
        async () => {
          for await (const line of readLines(stream, 8)) lines.push(line);
        },
        (error) => {
          assert.ok(error instanceof LineTooLongError);
          assert.equal(error.name, "LineTooLongError");
          assert.equal(error.message, "line longer than 8 bytes");
          return true;
        },
      );
      assert.deepEqual(lines, before);
      assert.equal(stream.locked, false, "releases the reader");
      await stream.cancel();
    });
  }
});

Deno.test("readLines() copies a partial line before the chunk is reused", async () => {
  // A source that writes every chunk into the same buffer.
  const buffer = new Uint8Array(3);
  const parts = ["abc", "de\n"];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const part = parts.shift();
      if (part === undefined) return controller.close();
      buffer.set(encoder.encode(part));
      controller.enqueue(buffer.subarray(0, part.length));
    },
  });
  assert.deepEqual(await collect(stream), ["abcde"]);
});

Deno.test("readLines() releases the reader when the consumer stops early", async () => {
  const stream = streamOf(["a\nb\nc\n"]);
  for await (const line of readLines(stream, 16)) {
    assert.equal(line, "a");
    break;
  }
  assert.equal(stream.locked, false);
  await stream.cancel();
});

const decoder = new TextDecoder();

/** Feeds `chunks` to a splitter and returns each line as text, overlong ones marked with a leading "!". */
function split(splitter: LineSplitter, chunks: (string | Uint8Array)[]): string[] {
  return chunks.flatMap((chunk) =>
    splitter.push(typeof chunk === "string" ? encoder.encode(chunk) : chunk)
      .map(({ bytes, overlong }) => (overlong ? "!" : "") + decoder.decode(bytes))
  );
}

Deno.test("LineSplitter keeps a partial line across chunks, a copy of it when the chunk's buffer is reused", () => {
  const splitter = new LineSplitter(64, "drop");
  const buffer = encoder.encode("hel");
  const lines = split(splitter, [buffer]);
  buffer.set(encoder.encode("XXX"));
  assert.deepEqual([...lines, ...split(splitter, ["lo\nnext\n"])], ["hello", "next"]);
});

Deno.test("LineSplitter: a UTF-8 character split across chunks is whole in its line", () => {
  const euro = encoder.encode("€");
  const splitter = new LineSplitter(64, "truncate");
  assert.deepEqual(split(splitter, ["a", euro.subarray(0, 2), euro.subarray(2), "\n"]), ["a€"]);
});

Deno.test("LineSplitter truncate: a long line keeps its first maxBytes, the rest up to its newline is skipped", () => {
  const splitter = new LineSplitter(4, "truncate");
  assert.deepEqual(split(splitter, ["ab", "cdef", "gh\nok\n", "1234\n"]), ["!abcd", "ok", "1234"]);
});

Deno.test("LineSplitter drop: a long line comes as what was seen of it, marked, once it passes the cap", () => {
  const splitter = new LineSplitter(4, "drop");
  // Reported at the chunk that passes the cap, before any newline.
  assert.deepEqual(split(splitter, ["ab", "cdef"]), ["!abcdef"]);
  assert.deepEqual(split(splitter, ["gh\nok\n"]), ["ok"]);
});

Deno.test("LineSplitter flush gives the last line without a newline, but not a skipped one", () => {
  const splitter = new LineSplitter(4, "truncate");
  split(splitter, ["done\nlast"]);
  assert.equal(decoder.decode(splitter.flush()?.bytes), "last");
  assert.equal(splitter.flush(), undefined);
  split(splitter, ["toolong"]);
  assert.equal(splitter.flush(), undefined);
});

Deno.test("LineSplitter reset(midLine) skips the fragment the input starts with", () => {
  const splitter = new LineSplitter(64, "truncate");
  split(splitter, ["partial"]);
  splitter.reset(true);
  assert.deepEqual(split(splitter, ["of a line\nwhole\n"]), ["whole"]);
  splitter.reset();
  assert.deepEqual(split(splitter, ["fresh\n"]), ["fresh"]);
});

Deno.test("readLines() yields the lines ahead of an overlong one before it throws", async () => {
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const line of readLines(streamOf(["one\ntwo\n" + "x".repeat(20)]), 8)) seen.push(line);
  }, LineTooLongError);
  assert.deepEqual(seen, ["one", "two"]);
});

Deno.test("LineSplitter truncate-at-end: a long line keeps its first maxBytes and comes at its end", () => {
  const splitter = new LineSplitter(4, "truncate-at-end");
  // Held across chunks: nothing until its newline.
  assert.deepEqual(split(splitter, ["ab", "cdef"]), []);
  assert.deepEqual(split(splitter, ["gh\nok\n"]), ["!abcd", "ok"]);
  split(splitter, ["toolong"]);
  assert.deepEqual(splitter.flush(), { bytes: encoder.encode("tool"), overlong: true });
});

Deno.test('LineSplitter carriageReturn: a "\\r" ends a line too, and each line says what ended it', () => {
  const splitter = new LineSplitter(4, "truncate-at-end", { carriageReturn: true });
  const ends = ["10%\r5", "0%\r\r", "\ntoolong\rx\n"].flatMap((chunk) =>
    splitter.push(encoder.encode(chunk)).map(({ bytes, end }) => `${decoder.decode(bytes)}${JSON.stringify(end)}`)
  );
  assert.deepEqual(ends, ['10%"\\r"', '50%"\\r"', '"\\r"', '"\\n"', 'tool"\\r"', 'x"\\n"']);
});

Deno.test('LineSplitter without carriageReturn keeps a "\\r" in its line', () => {
  const splitter = new LineSplitter(64, "drop");
  assert.deepEqual(split(splitter, ["a\rb\r\n"]), ["a\rb\r"]);
});
