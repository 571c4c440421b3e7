/**
 * The release workflow's smoke test (tests/release_smoke.ts) runs against
 * each compiled binary on its own platform. Here it runs against the
 * source, so a change that would break it is caught before a tag is pushed.
 */

import assert from "node:assert/strict";

Deno.test("the release smoke test passes against the source", async () => {
  const deno = Deno.execPath();
  const main = new URL("../main.ts", import.meta.url).pathname;
  const output = await new Deno.Command(deno, {
    args: ["run", "--allow-all", new URL("./release_smoke.ts", import.meta.url).pathname, deno, "run", "-A", main],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
});
