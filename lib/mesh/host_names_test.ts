import assert from "node:assert/strict";
import { createEvent, type HarkEvent } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { EventStore } from "../store/store.ts";
import { HostNames } from "./host_names.ts";

const nextId = monotonicUlid();

function eventFrom(peer: string, host: string): HarkEvent {
  return createEvent({ body: "hello" }, { id: nextId(), now: Date.now(), host, peer });
}

/** Runs `fn` with a real store in a fresh state dir, opened again by `reopen`. */
async function withStore(fn: (open: () => EventStore) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_host_names_test_" });
  const opened: EventStore[] = [];
  try {
    await fn(() => {
      opened.at(-1)?.close();
      const store = EventStore.open(dir);
      opened.push(store);
      return store;
    });
  } finally {
    for (const store of opened) store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("HostNames binds a host name to the first peer that claims it", async (t) => {
  await withStore(async (open) => {
    const names = new HostNames({ book: open(), self: { peer: "self", host: "desk-01" } });
    await t.step("the first event of a peer with no name binds the name it claims", () => {
      const event = eventFrom("ci", "ci-01");
      assert.equal(names.judge(event), event);
      assert.equal(names.ownerOf("ci-01"), "ci");
    });
    await t.step("another peer claiming that name is shown as such", () => {
      const judged = names.judge(eventFrom("rogue", "ci-01"));
      assert.equal(judged.source.host, "ci-01?");
      assert.equal(judged.source.host_verified, false);
      assert.equal(judged.source.peer, "rogue");
      assert.equal(names.announce("rogue", "ci-01"), false, "an announcement does not take it either");
      assert.equal(names.ownerOf("ci-01"), "ci");
    });
    await t.step("this agent's own name is its own", () => {
      assert.equal(names.ownerOf("desk-01"), "self");
      assert.equal(names.judge(eventFrom("rogue", "desk-01")).source.host, "desk-01?");
    });
    await t.step("a peer with a name cannot use another in passing", () => {
      assert.equal(names.judge(eventFrom("ci", "ci-02")).source.host, "ci-02?");
      assert.equal(names.ownerOf("ci-02"), undefined);
    });
    await t.step("a peer renames itself by announcing a free name, which frees the old one", () => {
      assert.equal(names.announce("ci", "ci-02"), true);
      assert.equal(names.judge(eventFrom("ci", "ci-02")).source.host, "ci-02");
      assert.equal(names.ownerOf("ci-01"), undefined);
      assert.equal(names.announce("other", "ci-01"), true);
    });
  });
});

Deno.test("HostNames keeps its bindings in the store across restarts", async () => {
  await withStore((open) => {
    const first = new HostNames({ book: open(), self: { peer: "self", host: "desk-01" } });
    first.announce("ci", "ci-01");
    // The agent restarts: whoever speaks first afterwards does not get the name.
    const again = new HostNames({ book: open(), self: { peer: "self", host: "desk-01" } });
    assert.equal(again.judge(eventFrom("rogue", "ci-01")).source.host, "ci-01?");
    assert.equal(again.ownerOf("ci-01"), "ci");
    // This agent's config wins for its own name, even over a binding it held for another peer.
    const renamed = new HostNames({ book: open(), self: { peer: "self", host: "ci-01" } });
    assert.equal(renamed.ownerOf("ci-01"), "self");
    assert.equal(renamed.judge(eventFrom("ci", "ci-01")).source.host, "ci-01?");
    assert.equal(renamed.ownerOf("desk-01"), undefined);
  });
});
