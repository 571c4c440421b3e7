import assert from "node:assert/strict";
import { differences } from "./build.ts";

Deno.test("vendor/libp2p/bundle/ is what deno bundle makes of mod.ts and mdns.ts at deno.lock's versions", async () => {
  // After a change to deno.lock or the entries, `deno task vendor` rebuilds it.
  assert.deepEqual(await differences(), [], "vendor/libp2p/bundle/ is stale: run deno task vendor");
});
