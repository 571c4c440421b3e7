import assert from "node:assert/strict";
import { createEvent } from "../event/event.ts";
import { encodeMessage, type NtfyMessage, ntfyMessage, parseSince, parseStoredFilter } from "./ntfy_subscribe.ts";
import { HttpFailure } from "./http_failure.ts";

Deno.test("parseSince reads ntfy's forms", () => {
  const now = 1_700_000_000_000;
  assert.deepEqual(parseSince(undefined, false, now), { kind: "none" });
  assert.deepEqual(parseSince(undefined, true, now), { kind: "all" }, "poll without since means everything");
  assert.deepEqual(parseSince("all", false, now), { kind: "all" });
  assert.deepEqual(parseSince("none", true, now), { kind: "none" });
  assert.deepEqual(parseSince("latest", false, now), { kind: "latest" });
  assert.deepEqual(parseSince("1700000000", false, now), { kind: "time", ms: 1_700_000_000_000 });
  assert.deepEqual(parseSince("10m", false, now), { kind: "time", ms: now - 600_000 });
  assert.deepEqual(parseSince("1h30m", false, now), { kind: "time", ms: now - 5_400_000 });
  assert.deepEqual(parseSince("01ARZ3NDEKTSV4RRFFQ69G5FAV", false, now), {
    kind: "id",
    id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
  });
  assert.deepEqual(parseSince("xE73Iyuabi3B", false, now), { kind: "id", id: "xE73Iyuabi3B" }, "an ntfy server's id");
  assert.throws(() => parseSince("soon", false, now), (error: HttpFailure) => error.status === 400);
});

Deno.test("ntfyMessage maps a hark event; expires is the event's own or the store's retention", () => {
  const event = createEvent(
    { topic: "t", title: "Hi", body: "there", priority: 5, tags: ["x"], click: "https://example.org" },
    { id: "01ARZ3NDEKTSV4RRFFQ69G5FAV", now: 1_700_000_000_500, host: "h", peer: "p" },
  );
  assert.deepEqual(ntfyMessage(event, 3_600_000), {
    id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    time: 1_700_000_000,
    expires: 1_700_003_600,
    event: "message",
    topic: "t",
    message: "there",
    source: { host: "h", peer: "p" },
    title: "Hi",
    tags: ["x"],
    priority: 5,
    click: "https://example.org",
  });
  const bare = ntfyMessage({ ...event, title: "", tags: [], click: undefined, expires: "2023-11-14T22:15:00.000Z" }, 1);
  assert.equal(bare.title, undefined);
  assert.equal(bare.tags, undefined);
  assert.equal(bare.click, undefined);
  assert.equal(bare.expires, Date.parse("2023-11-14T22:15:00.000Z") / 1000);
  assert.ok(!("expires" in ntfyMessage({ ...event, cache: false }, 1)), "no store keeps it: no expiry, as in ntfy");
});

Deno.test("encodeMessage frames json, sse and raw as ntfy's server does", () => {
  const open: NtfyMessage = { id: "a", time: 1, event: "open", topic: "t" };
  const message: NtfyMessage = { id: "b", time: 2, event: "message", topic: "t", message: "one\ntwo" };
  assert.equal(encodeMessage("json", message), JSON.stringify(message) + "\n");
  assert.equal(encodeMessage("sse", open), `event: open\ndata: ${JSON.stringify(open)}\n\n`);
  assert.equal(encodeMessage("sse", message), `data: ${JSON.stringify(message)}\n\n`);
  assert.equal(encodeMessage("raw", open), "\n");
  assert.equal(encodeMessage("raw", message), "one two\n");
});

Deno.test("parseStoredFilter reads hark's q, limit and before, and refuses what it cannot use", () => {
  const at = (query: string) => parseStoredFilter(new URL(`http://h/t/json?${query}`));
  assert.deepEqual(at(""), {});
  assert.deepEqual(at("q=%20disk%20full%20&limit=50&before=01ARZ3NDEKTSV4RRFFQ69G5FAV"), {
    text: "disk full",
    limit: 50,
    before: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
  });
  assert.deepEqual(at("q=%20"), {}, "blank text searches for nothing in particular");
  for (const bad of ["limit=0", "limit=1001", "limit=-1", "limit=ten", "before=xE73Iyuabi3B", `q=${"x".repeat(201)}`]) {
    assert.throws(() => at(bad), (error: HttpFailure) => error.status === 400 && /use|search/.test(error.message), bad);
  }
});
