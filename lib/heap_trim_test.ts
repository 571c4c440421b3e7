import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { type GarbageCollector, HeapTrim } from "./heap_trim.ts";
import { HARK_V8_FLAGS } from "./service/program.ts";

const MB = 1024 * 1024;

Deno.test("HeapTrim trims once the agent has settled, then only after the heap has grown", async (t) => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    let heap = 24 * MB;
    const collections: unknown[] = [];
    // A collection leaves the heap at 15 MB, as one does on an idle agent.
    const gc: GarbageCollector = (options) => {
      collections.push(options);
      heap = 15 * MB;
    };
    const trim = new HeapTrim({ settleMs: 30_000, intervalMs: 60_000, growthBytes: 4 * MB, gc, heapBytes: () => heap });

    await t.step("nothing before the agent has settled", () => {
      trim.start();
      trim.start();
      clock.tick(29_999);
      assert.equal(trim.trims, 0);
    });
    await t.step("then one collection of the last-resort kind", () => {
      clock.tick(1);
      assert.equal(trim.trims, 1);
      assert.deepEqual(collections, [{ type: "major", execution: "sync", flavor: "last-resort" }]);
    });
    await t.step("a heap that grew less than growthBytes is left alone", () => {
      heap = 18 * MB;
      clock.tick(60_000);
      assert.equal(trim.trims, 1);
    });
    await t.step("one that grew more is trimmed again", () => {
      heap = 19 * MB;
      clock.tick(60_000);
      assert.equal(trim.trims, 2);
    });
    await t.step("stop() ends it, and may be called again", () => {
      trim.stop();
      trim.stop();
      heap = 40 * MB;
      clock.tick(10 * 60_000);
      assert.equal(trim.trims, 2);
    });
  } finally {
    clock.uninstall();
  }
});

Deno.test("HeapTrim does nothing where V8's gc is not exposed", () => {
  const trim = new HeapTrim({ settleMs: 0, gc: undefined });
  trim.start();
  trim.stop();
  assert.equal(trim.trims, 0);
});

Deno.test("with HARK_V8_FLAGS, trimHeap() gives back the heap that start-up's garbage grew", async () => {
  // A process of its own: V8 reads its flags only at start.
  const script = `
    import { exposedGc, trimHeap } from ${JSON.stringify(new URL("./heap_trim.ts", import.meta.url).href)};
    let garbage = Array.from({ length: 200 }, (_, i) => Array.from({ length: 10_000 }, (_, j) => ({ i, j })));
    garbage = [];
    const before = Deno.memoryUsage().heapTotal;
    const gc = exposedGc();
    if (gc) trimHeap(gc);
    console.log(JSON.stringify({ exposed: gc !== undefined, before, after: Deno.memoryUsage().heapTotal }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `--v8-flags=${HARK_V8_FLAGS}`, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const { exposed, before, after } = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.ok(exposed, `HARK_V8_FLAGS (${HARK_V8_FLAGS}) lacks --expose-gc`);
  assert.ok(after < before - 20 * MB, `heap ${(before / MB).toFixed(1)} -> ${(after / MB).toFixed(1)} MB`);
});
