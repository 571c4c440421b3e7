import assert from "node:assert/strict";
import { lastLines } from "./log_tail.ts";

Deno.test("lastLines() returns the end of a log, however long", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-tail-" });
  try {
    await t.step("a missing file", async () => {
      assert.equal(await lastLines(`${dir}/missing.log`, 10), undefined);
    });
    await t.step("fewer lines than asked", async () => {
      await Deno.writeTextFile(`${dir}/short.log`, "one\r\ntwo\n");
      assert.deepEqual(await lastLines(`${dir}/short.log`, 10), ["one", "two"]);
    });
    await t.step("a file far larger than what is read", async () => {
      const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
      await Deno.writeTextFile(`${dir}/long.log`, lines.join("\n") + "\n");
      assert.deepEqual(await lastLines(`${dir}/long.log`, 3), lines.slice(-3));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
