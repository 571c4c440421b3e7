import assert from "node:assert/strict";
import { ControlClient } from "./control_client.ts";
import type { ControlReply } from "./control_protocol.ts";
import { ControlServer } from "./control_server.ts";

Deno.test("a tail's history reaches the client before any live event, however soon one follows", async () => {
  const stateDir = await Deno.makeTempDir();
  const server = new ControlServer({
    stateDir,
    maxRequestBytes: 4096,
    handlers: {
      handle: () => Promise.resolve({ ok: true }),
      tail: (_request, push) => {
        push({ ok: true, event: "stored 1" });
        push({ ok: true, event: "stored 2" });
        // A live event arriving while the reply is still being written.
        queueMicrotask(() => push({ ok: true, event: "live" }));
        return { reply: { ok: true, topics: ["builds"] }, stop: () => {} };
      },
    },
  });
  await server.start();
  try {
    await using client = await ControlClient.connect(stateDir);
    assert.deepEqual(await client.request({ op: "tail", topics: ["builds"] }), { ok: true, topics: ["builds"] });
    const lines: ControlReply[] = [];
    for await (const line of client.stream()) {
      lines.push(line);
      if (lines.length === 3) break;
    }
    assert.deepEqual(lines.map((line) => line.event), ["stored 1", "stored 2", "live"]);
  } finally {
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
