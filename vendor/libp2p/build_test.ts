import assert from "node:assert/strict";
import { isCurrent } from "./build.ts";

Deno.test("vendor/libp2p/bundle/ was built from deno.lock's versions, the entries and this Deno", async () => {
  // Every task that runs hark builds it first when it is not (deno.json's task dependencies).
  assert.ok(await isCurrent(), "vendor/libp2p/bundle/ is missing or stale: run deno task vendor");
});
