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
    parseRequest({ op: "history", topics: ["builds", "ci.7"], since_time: 5, since_id: "01J", limit: 2 }),
    { op: "history", topics: ["builds", "ci.7"], limit: 2, since_time: 5, since_id: "01J" },
  );
  assert.equal((parseRequest({ op: "history", topics: [] }) as { topics?: string[] }).topics, undefined);
  assert.equal(parseRequest({ op: "history", limit: 1_000_000_000 }).op, "history");
});

Deno.test("parseRequest() refuses crafted fields of history and tail, naming the field", async (t) => {
  const huge = "a".repeat(1_000_000);
  const cases: { name: string; fields: Record<string, unknown>; error: RegExp }[] = [
    {
      name: "limit 1e300",
      fields: { limit: 1e300 },
      error: /^limit must be a whole number from 1 to 1000000000, not 1e\+300$/,
    },
    { name: "limit -1", fields: { limit: -1 }, error: /^limit must be a whole number .* not -1$/ },
    { name: "limit 0", fields: { limit: 0 }, error: /^limit must be a whole number/ },
    { name: "limit 1.5", fields: { limit: 1.5 }, error: /^limit must be a whole number/ },
    { name: "limit as a string", fields: { limit: "3" }, error: /^limit must be a whole number .* not "3"$/ },
    { name: "limit null", fields: { limit: null }, error: /^limit must be a whole number .* not null$/ },
    { name: "limit as an object", fields: { limit: { n: 1 } }, error: /^limit must be a whole number/ },
    {
      name: "an object as a topic",
      fields: { topics: [{}] },
      error: /^topics\[0\] must be a topic name, not an object$/,
    },
    {
      name: "a number as a topic",
      fields: { topics: ["builds", 7] },
      error: /^topics\[1\] must be a topic name, not a number$/,
    },
    {
      name: "an array as a topic",
      fields: { topics: [["a"]] },
      error: /^topics\[0\] must be a topic name, not an array$/,
    },
    { name: "null as a topic", fields: { topics: [null] }, error: /^topics\[0\] must be a topic name, not null$/ },
    {
      name: "topics as a string",
      fields: { topics: "builds" },
      error: /^topics must be a list of topic names, not a string$/,
    },
    {
      name: "topics as an object",
      fields: { topics: { 0: "a" } },
      error: /^topics must be a list of topic names, not an object$/,
    },
    { name: "topics null", fields: { topics: null }, error: /^topics must be a list of topic names, not null$/ },
    { name: "a topic outside the grammar", fields: { topics: ["a b"] }, error: /^topics\[0\]: invalid topic "a b"/ },
    {
      name: "a huge topic",
      fields: { topics: [huge] },
      error: /^topics\[0\] is not a topic name: 1000000 characters is too long$/,
    },
    { name: "too many topics", fields: { topics: Array(257).fill("a") }, error: /^topics: at most 256 topics/ },
    {
      name: "since_time as a string",
      fields: { since_time: "yesterday" },
      error: /^since_time must be milliseconds since the epoch \(a number\), not "yesterday"$/,
    },
    { name: "since_time past a Date", fields: { since_time: 1e300 }, error: /^since_time must be milliseconds/ },
    {
      name: "since_time NaN-ish",
      fields: { since_time: Number.NaN },
      error: /^since_time must be milliseconds .* not NaN$/,
    },
    {
      name: "since_id as a number",
      fields: { since_id: 5 },
      error: /^since_id must be an event id \(a string of 1 to 128 characters\), not 5$/,
    },
    { name: "since_id as an object", fields: { since_id: { id: "x" } }, error: /^since_id must be an event id/ },
    { name: "a huge since_id", fields: { since_id: huge }, error: /^since_id must be an event id .* not "a{40}"…$/ },
  ];
  for (const op of ["history", "tail"]) {
    for (const c of cases) {
      if (op === "tail" && c.name.startsWith("limit")) continue;
      await t.step(`${op}: ${c.name}`, () => {
        assert.throws(() => parseRequest({ op, ...c.fields }), (error: Error) => {
          assert.equal(error.name, "HarkError");
          assert.match(error.message, c.error);
          assert.ok(error.message.length < 200, `a short message: ${error.message.length} characters`);
          return true;
        });
      });
    }
  }
});

Deno.test("tail: when must be a filter string", () => {
  assert.deepEqual(parseRequest({ op: "tail", when: "priority >= 4" }), {
    op: "tail",
    topics: undefined,
    when: "priority >= 4",
  });
  assert.throws(
    () => parseRequest({ op: "tail", when: 4 }),
    /^HarkError: when must be a filter \(a string\), not a number$/,
  );
  assert.throws(() => parseRequest({ op: "tail", when: ["a"] }), /when must be a filter \(a string\), not an array/);
});
