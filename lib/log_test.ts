import assert from "node:assert/strict";
import { getLogger, resetSync } from "@logtape/logtape";
import { LOG_FILES_KEPT, setupLogging } from "./log.ts";

Deno.test("a log file rotates by size and keeps five old files, each line whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-log-" });
  try {
    setupLogging("info", `${dir}/hark.log`, 400);
    for (let i = 0; i < 200; i++) getLogger(["hark", "test"]).info("line {i} of the log", { i });
    resetSync();
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    assert.deepEqual(
      names,
      ["hark.log", ...Array.from({ length: LOG_FILES_KEPT }, (_, i) => `hark.log.${i + 1}`)].sort(),
    );
    const newest = await Deno.readTextFile(`${dir}/hark.log`);
    assert.match(newest, /\[INF\] hark·test: line 199 of the log\n$/);
    for (const name of names) {
      const text = await Deno.readTextFile(`${dir}/${name}`);
      assert.ok(text.length <= 400 + 100, `${name} stays near the size limit (${text.length})`);
      for (const line of text.trimEnd().split("\n")) assert.match(line, /^\S+ \[INF\] hark·test: line \d+ of the log$/);
    }
  } finally {
    resetSync();
    await Deno.remove(dir, { recursive: true });
  }
});
