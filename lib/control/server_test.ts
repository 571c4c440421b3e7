import assert from "node:assert/strict";
import { ControlClient } from "./client.ts";
import type { ControlReply } from "./protocol.ts";
import { ControlServer } from "./server.ts";

Deno.test("a tail's history reaches the client before any live event, however soon one follows", async () => {
  // More than the live-event buffer: a long replay must not crowd out what comes after it.
  const stored = Array.from({ length: 1500 }, (_, i) => `stored ${i}`);
  const stateDir = await Deno.makeTempDir();
  const server = new ControlServer({
    stateDir,
    maxRequestBytes: 4096,
    handlers: {
      handle: () => Promise.resolve({ ok: true }),
      history: () => ({ next: () => Promise.resolve({ events: [], last: true, release() {} }) }),
      tail: (_request, push) => {
        // The stored events in pages of 200, as the store hands them out.
        let offset = 0;
        const pages = {
          next: () => {
            const events = stored.slice(offset, offset += 200);
            const last = offset >= stored.length;
            // The follower starts with the last page; a live event comes while it is still being written.
            if (last) queueMicrotask(() => push({ ok: true, event: "live" }));
            return Promise.resolve({ events, last, release() {} });
          },
        };
        return { reply: { ok: true, topics: ["builds"] }, pages, stop: () => {} };
      },
    },
  });
  await server.start();
  try {
    await using client = await ControlClient.connect(stateDir);
    assert.deepEqual(await client.request({ op: "tail", topics: ["builds"] }), { ok: true, topics: ["builds"] });
    const lines: ControlReply[] = [];
    // A dropped line would leave the loop waiting: the deadline ends it, and the assertion says what came.
    const deadline = setTimeout(() => client.close(), 10_000);
    try {
      for await (const line of client.stream()) {
        lines.push(line);
        if (lines.length === stored.length + 1) break;
      }
    } catch {
      // Closed by the deadline.
    } finally {
      clearTimeout(deadline);
    }
    assert.deepEqual(lines.map((line) => line.event), [...stored, "live"]);
  } finally {
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
