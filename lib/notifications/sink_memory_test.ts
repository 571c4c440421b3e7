import assert from "node:assert/strict";
import { EventStore } from "../store/store.ts";
import { DESKTOP_COALESCE_SCOPE, DESKTOP_REPEAT_SCOPE, scopesInUse } from "./sink_memory.ts";

Deno.test("the scopes in use: every desktop sink's dedup groups, and repeats only where repeat is set", () => {
  assert.deepEqual(scopesInUse([{ type: "file" }, { type: "exec" }]), []);
  assert.deepEqual(scopesInUse([{ type: "desktop" }]), [DESKTOP_COALESCE_SCOPE]);
  assert.deepEqual(
    scopesInUse([{ type: "desktop" }, { type: "desktop", repeat: { priority: 5, every: 300_000 } }]).sort(),
    [DESKTOP_COALESCE_SCOPE, DESKTOP_REPEAT_SCOPE].sort(),
  );
});

Deno.test("keepOnly forgets what other scopes kept, and everything when none is in use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark_sink_memory_test_" });
  const store = EventStore.open(dir);
  try {
    const memory = store.sinkMemory;
    memory.put(DESKTOP_REPEAT_SCOPE, "alerts\nk1", "{}");
    memory.put(DESKTOP_COALESCE_SCOPE, "dedup:alerts/disk", "{}");
    assert.equal(memory.keepOnly([DESKTOP_COALESCE_SCOPE]), 1);
    assert.deepEqual(memory.all(DESKTOP_REPEAT_SCOPE), []);
    assert.deepEqual(memory.all(DESKTOP_COALESCE_SCOPE), [["dedup:alerts/disk", "{}"]]);
    assert.equal(memory.keepOnly([]), 1);
    assert.deepEqual(memory.all(DESKTOP_COALESCE_SCOPE), []);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
