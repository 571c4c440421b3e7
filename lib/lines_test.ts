import assert from "node:assert/strict";
import { LineTooLongError, readLines } from "./lines.ts";

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
