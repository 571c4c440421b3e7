import assert from "node:assert/strict";
import { createEvent, type EventDraft } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { EventStore, type HistoryQuery } from "./store.ts";
import { HistoryBudget } from "./history_budget.ts";
import { HistoryPages } from "./history_pages.ts";
import { holdsText } from "./text_search.ts";

const nextId = monotonicUlid();

async function withStore(fn: (store: EventStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hark_search_test_" });
  const store = EventStore.open(dir);
  try {
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Stores the drafts in order; returns their sequence numbers. */
function fill(store: EventStore, drafts: EventDraft[]): number[] {
  const seqs = drafts.map((draft, i) =>
    store.append(createEvent(draft, { id: nextId(), now: Date.now(), host: "h", peer: "12D3KooWPeerA" }), i)!
  );
  store.commit();
  return seqs;
}

/** What a paged reader of `query` returns, as `kind:title:body`. */
async function read(store: EventStore, query: HistoryQuery): Promise<string[]> {
  const pages = new HistoryPages({ store, budget: new HistoryBudget(), query, pageEvents: 2 });
  const found: string[] = [];
  for (;;) {
    const page = await pages.next();
    found.push(...page.events.map((event) => `${event.kind ?? "message"}:${event.title}:${event.body}`));
    page.release();
    if (page.last) return found;
  }
}

Deno.test("a text query finds the title or body that holds it, ASCII case ignored, wildcards taken literally", async () => {
  await withStore(async (store) => {
    fill(store, [
      { topic: "t", title: "Build #811 passed", body: "all green" },
      { topic: "t", title: "Build #812 FAILED", body: "test_login timed out" },
      { topic: "t", title: "Disk", body: "100% full on /var" },
      { topic: "other", title: "failed elsewhere", body: "not on t" },
    ]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "failed" }), [
      "message:Build #812 FAILED:test_login timed out",
    ]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "GREEN" }), ["message:Build #811 passed:all green"]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "100%" }), ["message:Disk:100% full on /var"]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "0%" }), ["message:Disk:100% full on /var"]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "%" }), ["message:Disk:100% full on /var"]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "t_l" }), [
      "message:Build #812 FAILED:test_login timed out",
    ]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "tXl" }), []);
    assert.deepEqual(await read(store, { topics: ["t"], text: "nowhere" }), []);
  });
});

Deno.test("a text query brings the clears and deletes of the notifications it finds, and only those", async () => {
  await withStore(async (store) => {
    fill(store, [
      { topic: "t", sequence: "deploy-9", title: "Deploy 9", body: "started" },
      { topic: "t", sequence: "backup", title: "Backup", body: "running" },
      { topic: "t", sequence: "deploy-9", kind: "clear" },
      { topic: "t", sequence: "backup", kind: "delete" },
      { topic: "u", sequence: "deploy-9", kind: "clear" },
    ]);
    assert.deepEqual(await read(store, { topics: ["t", "u"], text: "deploy" }), [
      "message:Deploy 9:started",
      "clear::",
    ]);
  });
});

Deno.test("a text query with a limit and an upper bound pages back through the matches, newest first", async () => {
  await withStore(async (store) => {
    const seqs = fill(
      store,
      Array.from({ length: 9 }, (_, i) => ({ topic: "t", title: `#${i}`, body: i % 3 === 0 ? "needle" : "hay" })),
    );
    assert.deepEqual(await read(store, { topics: ["t"], text: "needle", limit: 2 }), [
      "message:#3:needle",
      "message:#6:needle",
    ]);
    assert.deepEqual(await read(store, { topics: ["t"], text: "needle", limit: 2, beforeSeq: seqs[3] }), [
      "message:#0:needle",
    ]);
    assert.deepEqual(await read(store, { topics: ["t"], limit: 3, beforeSeq: seqs[5] }), [
      "message:#2:hay",
      "message:#3:needle",
      "message:#4:hay",
    ]);
  });
});

Deno.test("holdsText tests a live event as the store would", () => {
  assert.equal(holdsText({ title: "Build FAILED", body: "" }, "failed"), true);
  assert.equal(holdsText({ title: "", body: "100% full" }, "0%"), true);
  assert.equal(holdsText({ title: "x", body: "y" }, "z"), false);
  assert.equal(holdsText({ kind: "clear" }, "z"), true, "a clear passes");
  assert.equal(holdsText({ title: "ÉTÉ", body: "" }, "été"), false, "only ASCII letters fold, as in SQLite's LIKE");
});
