import assert from "node:assert/strict";
import { parseRequest } from "./parse.ts";

Deno.test("a request is a JSON object with a known op", () => {
  assert.throws(() => parseRequest([]), /request must be a JSON object/);
  assert.throws(() => parseRequest(null), /request must be a JSON object/);
  assert.throws(() => parseRequest({ op: "reboot" }), /unknown op "reboot"; use one of send, tail, peers/);
  assert.throws(() => parseRequest({}), /unknown op undefined/);
});

Deno.test("the field-less ops keep only their op: a token or stray field goes no further", () => {
  assert.deepEqual(parseRequest({ op: "status", token: "secret", extra: 1 }), { op: "status" });
});

Deno.test("send checks its draft", () => {
  assert.deepEqual(parseRequest({ op: "send", event: { title: "hi" } }), { op: "send", event: { title: "hi" } });
  assert.throws(() => parseRequest({ op: "send", event: { colour: "red" } }), /unknown field "colour"/);
  assert.throws(() => parseRequest({ op: "send" }), /event/);
});

Deno.test("history: topics, since and limit are checked, and an empty topic list means agent.topics", () => {
  assert.deepEqual(
    parseRequest({ op: "history", topics: ["builds", 7], since_time: 5, since_id: "01J", limit: 2 }),
    { op: "history", topics: ["builds", "7"], limit: 2, since_time: 5, since_id: "01J" },
  );
  assert.equal((parseRequest({ op: "history", topics: [] }) as { topics?: string[] }).topics, undefined);
  assert.throws(() => parseRequest({ op: "history", since_time: "yesterday" }), /since_time must be milliseconds/);
  assert.throws(() => parseRequest({ op: "history", since_id: 5 }), /no event with id 5 in the store/);
  for (const limit of [0, 1.5, "3"]) {
    assert.throws(() => parseRequest({ op: "history", limit }), /limit must be a whole number of at least 1/);
  }
});

Deno.test("tail: when must be a filter string", () => {
  assert.deepEqual(parseRequest({ op: "tail", when: "priority >= 4" }), {
    op: "tail",
    topics: undefined,
    when: "priority >= 4",
  });
  assert.throws(() => parseRequest({ op: "tail", when: 4 }), /when must be a filter/);
});
