/** What a desktop sink kept for itself is forgotten when the agent starts without that sink. */

import assert from "node:assert/strict";
import { EventStore } from "../lib/store/store.ts";
import { DESKTOP_COALESCE_SCOPE, DESKTOP_REPEAT_SCOPE } from "../lib/notifications/sink_memory.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";

Deno.test("an agent started without its desktop sink drops the repeats and popups that sink kept", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const seeded = EventStore.open(stateDir);
  seeded.sinkMemory.put(DESKTOP_REPEAT_SCOPE, "alerts\nk1", '{"due":0}');
  seeded.sinkMemory.put(DESKTOP_COALESCE_SCOPE, "dedup:alerts/disk", '{"count":2}');
  seeded.close();
  {
    await using agent = await startAgent({
      stateDir,
      removeStateDir: false,
      config: loopbackConfig([], `[[sink]]\ntype = "file"\n`),
    });
    await agent.stop();
  }
  const store = EventStore.open(stateDir);
  try {
    assert.deepEqual(store.sinkMemory.all(DESKTOP_REPEAT_SCOPE), []);
    assert.deepEqual(store.sinkMemory.all(DESKTOP_COALESCE_SCOPE), []);
  } finally {
    store.close();
    await Deno.remove(stateDir, { recursive: true });
  }
});
