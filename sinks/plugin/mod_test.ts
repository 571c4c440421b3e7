/**
 * PluginSink with real Workers and real plugin files: handlers run and
 * publish, a crash or an endless loop is a failure the agent survives, a
 * plugin cannot reach past its grants, and saving the file reloads it.
 */

import assert from "node:assert/strict";
import type { EventDraft, HarkEvent } from "../../lib/event/event.ts";
import { PluginSink, type PluginSinkInit } from "./mod.ts";
import { testEvent } from "../../tests/helpers/events.ts";

const event = testEvent;

const signal = new AbortController().signal;

interface Fixture extends AsyncDisposable {
  dir: string;
  sink: PluginSink;
  sent: EventDraft[];
  write(code: string): Promise<void>;
}

/** A plugin file in a temp dir and its sink; disposing closes the sink and removes the dir. */
async function plugin(code: string, init: Partial<PluginSinkInit> = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "hark_plugin_" });
  const path = `${dir}/plugin.ts`;
  await Deno.writeTextFile(path, code);
  const sent: EventDraft[] = [];
  const sink = new PluginSink({
    path,
    timeoutMs: 5_000,
    grants: {},
    publish: (draft) => {
      sent.push(draft);
      return Promise.resolve(event({ topic: draft.topic ?? "default", title: draft.title ?? "" }));
    },
    ...init,
  });
  return {
    dir,
    sink,
    sent,
    write: (text) => Deno.writeTextFile(path, text),
    async [Symbol.asyncDispose]() {
      await sink.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function stats(sink: PluginSink) {
  return sink.stats() as { plugin: string; failures_in_a_row: number; terminated: number; error?: string };
}

Deno.test("a plugin's handlers get the events they ask for and may publish", async () => {
  await using fixture = await plugin(`
    export function register(hark) {
      hark.on("builds", { when: "priority >= 4" }, async (event, ctx) => {
        await ctx.send({ topic: "alerts", title: "seen " + event.title });
      });
    }
  `);
  const { sink, sent } = fixture;
  await sink.deliver(event({ title: "urgent" }), { signal });
  await sink.deliver(event({ title: "quiet", priority: 2 }), { signal });
  await sink.deliver(event({ topic: "deploys", title: "elsewhere" }), { signal });
  assert.deepEqual(sent, [{ topic: "alerts", title: "seen urgent" }]);
  assert.equal(stats(sink).plugin, "ready");
});

Deno.test("a plugin never gets back the events it sent", async () => {
  const published: HarkEvent[] = [];
  await using fixture = await plugin(
    `export function register(hark) {
      hark.on("*", async (event, ctx) => { await ctx.send({ topic: "echo", title: "echo of " + event.title }); });
    }`,
    {
      publish: (draft) => {
        const created = event({ topic: draft.topic!, title: draft.title! });
        published.push(created);
        return Promise.resolve(created);
      },
    },
  );
  await fixture.sink.deliver(event({ title: "first" }), { signal });
  assert.equal(published.length, 1);
  await fixture.sink.deliver(published[0], { signal });
  assert.equal(published.length, 1, "the echo of the echo was never made");
});

Deno.test("ctx.send rejects with the agent's reason, and a draft that is not an event", async () => {
  const titles: string[] = [];
  await using fixture = await plugin(
    `export function register(hark) {
      hark.on("builds", async (event, ctx) => {
        for (const draft of [{ topic: "hark.node.join" }, { colour: "red" }]) {
          try { await ctx.send(draft); } catch (error) { await ctx.send({ title: error.message }); }
        }
      });
    }`,
    {
      publish: (draft) => {
        if (draft.topic?.startsWith("hark.")) {
          return Promise.reject(new Error(`topics starting with "hark." are reserved`));
        }
        titles.push(draft.title!);
        return Promise.resolve(event({ title: draft.title! }));
      },
    },
  );
  await fixture.sink.deliver(event(), { signal });
  assert.deepEqual(titles, [`topics starting with "hark." are reserved`, `unknown field "colour"`]);
});

Deno.test("a plugin that throws fails the event, and is deactivated after failing again and again", async () => {
  await using fixture = await plugin(
    `
    export function register(hark) {
      hark.on("builds", (event) => { if (event.title === "boom") throw new Error("cannot handle " + event.title); });
    }
  `,
    { deactivateAfter: 3 },
  );
  const { sink } = fixture;
  for (let attempt = 1; attempt <= 3; attempt++) {
    await assert.rejects(sink.deliver(event({ title: "boom" }), { signal }), /cannot handle boom/);
  }
  assert.equal(stats(sink).plugin, "deactivated");
  assert.match(stats(sink).error!, /cannot handle boom/);
  // Deactivated, a delivery waits (its event stays in the store) until the file changes or the agent stops.
  const stopping = new AbortController();
  const waiting = sink.deliver(event({ title: "fine" }), { signal: stopping.signal });
  stopping.abort();
  await assert.rejects(waiting, /the agent is stopping/);
});

Deno.test("an uncaught error inside the Worker is a failure, not the agent's crash", async () => {
  await using fixture = await plugin(`
    export function register(hark) {
      hark.on("builds", () => new Promise(() => { setTimeout(() => { throw new Error("thrown later"); }, 0); }));
    }
  `);
  await assert.rejects(fixture.sink.deliver(event(), { signal }), /crashed: .*thrown later/);
  assert.equal(stats(fixture.sink).terminated, 1);
});

Deno.test("a handler in an endless loop has its Worker terminated at the timeout, and the next event gets a fresh one", async () => {
  await using fixture = await plugin(
    `export function register(hark) {
      hark.on("builds", (event) => { if (event.title === "loop") for (;;) {} });
    }`,
    { timeoutMs: 300 },
  );
  const { sink } = fixture;
  await assert.rejects(
    sink.deliver(event({ title: "loop" }), { signal }),
    /took longer than 300 ms; its Worker was stopped/,
  );
  assert.equal(stats(sink).terminated, 1);
  await sink.deliver(event({ title: "fine" }), { signal });
  assert.equal(stats(sink).plugin, "ready");
});

Deno.test("a plugin has only the permissions its config grants", async () => {
  const secret = await Deno.makeTempFile({ prefix: "hark_plugin_secret_" });
  try {
    await Deno.writeTextFile(secret, "the secret");
    const code = `
      export function register(hark) {
        hark.on("builds", async (event, ctx) => {
          await ctx.send({ title: await Deno.readTextFile(${JSON.stringify(secret)}) });
        });
      }`;
    {
      await using denied = await plugin(code);
      await assert.rejects(denied.sink.deliver(event(), { signal }), /Requires read access to .*hark_plugin_secret_/);
      await using envDenied = await plugin(
        `export function register(hark) { hark.on("builds", () => { Deno.env.get("HOME"); }); }`,
      );
      await assert.rejects(envDenied.sink.deliver(event(), { signal }), /Requires env access/);
      await using netDenied = await plugin(
        `export function register(hark) { hark.on("builds", async () => { (await Deno.connect({ hostname: "127.0.0.1", port: 1 })).close(); }); }`,
      );
      await assert.rejects(netDenied.sink.deliver(event(), { signal }), /Requires net access to "127\.0\.0\.1:1"/);
    }
    await using granted = await plugin(code, { grants: { read: [secret] } });
    await granted.sink.deliver(event(), { signal });
    assert.deepEqual(granted.sent, [{ title: "the secret" }]);
  } finally {
    await Deno.remove(secret);
  }
});

Deno.test("a plugin that cannot load says why", async () => {
  for (
    const [code, why] of [
      [`export const nothing = 1;`, /does not export a register\(hark\) function/],
      [`export function register(hark) {}`, /called hark\.on\(\) for no topic/],
      [`export function register(hark) { hark.on("builds", { when: "priority >>> 2" }, () => {}); }`, /priority >>> 2/],
      [`export function register( {`, /SyntaxError|Expected|Unexpected/],
    ] as const
  ) {
    await using fixture = await plugin(code);
    await assert.rejects(fixture.sink.deliver(event(), { signal }), why);
  }
});

Deno.test("saving the plugin file reloads it and reactivates a deactivated plugin", async () => {
  await using fixture = await plugin(
    `export function register(hark) { hark.on("builds", () => { throw new Error("version 1 is broken"); }); }`,
    { deactivateAfter: 2 },
  );
  const { sink, sent } = fixture;
  sink.start();
  const broken = event({ title: "waiting" });
  for (let attempt = 1; attempt <= 2; attempt++) {
    await assert.rejects(sink.deliver(broken, { signal }), /version 1 is broken/);
  }
  assert.equal(stats(sink).plugin, "deactivated");
  // The router's next attempt waits while the plugin is deactivated.
  const retried = sink.deliver(broken, { signal });
  await fixture.write(
    `export function register(hark) { hark.on("builds", (event, ctx) => ctx.send({ title: "v2 got " + event.title })); }`,
  );
  await retried;
  assert.deepEqual(sent, [{ title: "v2 got waiting" }]);
  assert.equal(stats(sink).plugin, "ready");
  assert.equal(stats(sink).failures_in_a_row, 0);
});

Deno.test("a handler learns that an event in flight at a crash may have reached it before (ctx.repeat)", async () => {
  await using fixture = await plugin(`
    export function register(hark) {
      hark.on("builds", async (event, ctx) => {
        await ctx.send({ topic: "seen", title: event.title + (ctx.repeat ? " (repeat)" : "") });
      });
    }
  `);
  const { sink, sent } = fixture;
  assert.equal(sink.marksRepeats, true);
  await sink.deliver(event({ title: "first" }), { signal });
  await sink.deliver(event({ title: "again" }), { signal, repeat: true });
  assert.deepEqual(sent.map((draft) => draft.title), ["first", "again (repeat)"]);
});
