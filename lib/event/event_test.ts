import assert from "node:assert/strict";
import {
  BODY_MAX_BYTES,
  createEvent,
  DATA_MAX_DEPTH,
  decodeEvent,
  DEFAULT_MAX_EVENT_BYTES,
  encodeEvent,
  type HarkEvent,
  parseDraft,
  parsePriority,
  TITLE_MAX_CHARS,
  validateEvent,
} from "./event.ts";
import { EventError } from "../errors.ts";

const ID = "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K";
const NOW = Date.UTC(2026, 10, 21, 23, 59, 59, 123);
const ORIGIN = { id: ID, now: NOW, host: "ci-01", peer: "12D3KooWPublisher" };

const encoder = new TextEncoder();

/** A complete, valid event as plain JSON data. */
function validEvent(): Record<string, unknown> {
  return {
    id: ID,
    topic: "builds",
    title: "Build #812 failed",
    body: "test_login timed out",
    priority: 4,
    tags: ["ci", "failed"],
    time: "2026-11-21T23:59:59.123Z",
    click: "https://ci.example.org/812",
    source: { host: "ci-01", peer: "12D3KooWPublisher", user: "ci" },
    data: { any: "json" },
  };
}

function assertEventError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof EventError, `expected EventError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("createEvent() fills defaults", () => {
  const event = createEvent({ body: "hello" }, ORIGIN);
  assert.deepEqual(event, {
    id: ID,
    topic: "default",
    title: "",
    body: "hello",
    priority: 3,
    tags: [],
    time: "2026-11-21T23:59:59.123Z",
    source: { host: "ci-01", peer: "12D3KooWPublisher" },
  });
  for (const key of ["click", "expires", "cache", "data"]) assert.ok(!(key in event), `no ${key}`);
  assert.ok(!("user" in event.source));
});

Deno.test("createEvent() takes every draft field", () => {
  const event = createEvent(
    {
      topic: "builds",
      title: "Build #812 failed",
      body: "test_login timed out",
      priority: 5,
      tags: ["ci"],
      click: "https://ci.example.org/812",
      ttl: 60_000,
      data: { build: 812 },
      user: "ci",
    },
    ORIGIN,
  );
  assert.deepEqual(event, {
    id: ID,
    topic: "builds",
    title: "Build #812 failed",
    body: "test_login timed out",
    priority: 5,
    tags: ["ci"],
    time: "2026-11-21T23:59:59.123Z",
    source: { host: "ci-01", peer: "12D3KooWPublisher", user: "ci" },
    click: "https://ci.example.org/812",
    expires: "2026-11-22T00:00:59.123Z",
    data: { build: 812 },
  });
});

Deno.test("createEvent() marks a draft with cache: false, and only that one", () => {
  assert.equal(createEvent({ body: "x", cache: false }, ORIGIN).cache, false);
  assert.ok(!("cache" in createEvent({ body: "x", cache: true }, ORIGIN)));
});

Deno.test("createEvent() accepts a title without a body", () => {
  assert.equal(createEvent({ title: "only a title" }, ORIGIN).body, "");
});

Deno.test("createEvent() rejects bad drafts", async (t) => {
  const cases: { name: string; draft: Parameters<typeof createEvent>[0]; message: RegExp }[] = [
    { name: "nothing to send", draft: {}, message: /^nothing to send/ },
    { name: "empty title and body", draft: { title: "", body: "" }, message: /^nothing to send/ },
    { name: "ttl 0", draft: { body: "x", ttl: 0 }, message: /^invalid ttl 0/ },
    { name: "negative ttl", draft: { body: "x", ttl: -5 }, message: /^invalid ttl -5/ },
    { name: "NaN ttl", draft: { body: "x", ttl: NaN }, message: /^invalid ttl NaN/ },
    { name: "infinite ttl", draft: { body: "x", ttl: Infinity }, message: /^invalid ttl Infinity/ },
    { name: "priority 0", draft: { body: "x", priority: 0 }, message: /^invalid priority "0"/ },
    { name: "priority 6", draft: { body: "x", priority: 6 }, message: /^invalid priority "6"/ },
    { name: "bad topic", draft: { body: "x", topic: "a..b" }, message: /^invalid topic "a..b"/ },
    { name: "bad tag", draft: { body: "x", tags: ["a b"] }, message: /^invalid tag "a b"/ },
    { name: "relative click", draft: { body: "x", click: "/812" }, message: /^invalid click URL "\/812"/ },
    { name: "long title", draft: { title: "t".repeat(257) }, message: /^title is 257 characters; the limit is 256$/ },
  ];
  for (const { name, draft, message } of cases) {
    await t.step(name, () => assertEventError(() => createEvent(draft, ORIGIN), message));
  }
});

Deno.test("createEvent() applies the size limit it is given", () => {
  const draft = { body: "x".repeat(900) };
  assert.ok(createEvent(draft, ORIGIN));
  assertEventError(() => createEvent(draft, ORIGIN, { maxEventBytes: 512 }), /^event is \d+ bytes; the limit is 512$/);
});

Deno.test("validateEvent() accepts a valid event unchanged", () => {
  const value = validEvent();
  const event = validateEvent(value);
  assert.equal(event, value);
  assert.deepEqual(event, validEvent());
});

Deno.test("validateEvent() accepts values at the limits", async (t) => {
  const cases: { name: string; change: Record<string, unknown> }[] = [
    { name: "title of 256 chars", change: { title: "t".repeat(TITLE_MAX_CHARS) } },
    { name: "body of 4096 bytes", change: { body: "b".repeat(BODY_MAX_BYTES) } },
    { name: "body of 2048 two-byte chars", change: { body: "é".repeat(BODY_MAX_BYTES / 2) } },
    { name: "empty title and body", change: { title: "", body: "" } },
    { name: "priority 1", change: { priority: 1 } },
    { name: "priority 5", change: { priority: 5 } },
    { name: "no tags", change: { tags: [] } },
    { name: "32 tags", change: { tags: Array.from({ length: 32 }, (_, i) => `t${i}`) } },
    { name: "tag of 64 chars", change: { tags: ["t".repeat(64)] } },
    { name: "topic of 64 chars", change: { topic: "a".repeat(64) } },
    { name: "topic with . _ -", change: { topic: "ci.builds_main-1" } },
    { name: "topic with upper case, kept", change: { topic: "Phil_Alerts" } },
    { name: "expires", change: { expires: "2026-11-22T00:00:00.000Z" } },
    { name: "not to be stored (cache: false)", change: { cache: false } },
    { name: "no click", change: { click: undefined } },
    { name: "no data", change: { data: undefined } },
    { name: "data of any JSON", change: { data: [1, "two", null, { three: true }] } },
  ];
  for (const { name, change } of cases) {
    await t.step(name, () => {
      const value = { ...validEvent(), ...change };
      for (const [key, v] of Object.entries(value)) if (v === undefined) delete value[key];
      validateEvent(value);
    });
  }
});

Deno.test("validateEvent() rejects each bad field", async (t) => {
  const cases: { name: string; change: Record<string, unknown>; message: RegExp }[] = [
    { name: "unknown field", change: { color: "red" }, message: /^unknown field "color"$/ },
    { name: "missing id", change: { id: undefined }, message: /^invalid id undefined: not a ULID$/ },
    { name: "id not a ULID", change: { id: "not-a-ulid" }, message: /^invalid id "not-a-ulid"/ },
    { name: "id in lower case", change: { id: ID.toLowerCase() }, message: /^invalid id/ },
    { name: "topic with a leading dot", change: { topic: ".lead" }, message: /^invalid topic ".lead"/ },
    { name: "topic with a trailing dot", change: { topic: "trail." }, message: /^invalid topic "trail."/ },
    { name: "topic with two dots in a row", change: { topic: "a..b" }, message: /^invalid topic "a..b"/ },
    { name: "topic that is a dot", change: { topic: "." }, message: /^invalid topic "."/ },
    { name: "topic with a space", change: { topic: "my builds" }, message: /^invalid topic/ },
    { name: "topic with a slash", change: { topic: "a/b" }, message: /^invalid topic/ },
    { name: "empty topic", change: { topic: "" }, message: /^invalid topic ""/ },
    { name: "topic of 65 chars", change: { topic: "a".repeat(65) }, message: /^invalid topic/ },
    { name: "topic not a string", change: { topic: 7 }, message: /^invalid topic 7/ },
    { name: "title not a string", change: { title: 1 }, message: /^title must be a string$/ },
    {
      name: "title of 257 chars",
      change: { title: "t".repeat(TITLE_MAX_CHARS + 1) },
      message: /^title is 257 characters; the limit is 256$/,
    },
    { name: "body not a string", change: { body: null }, message: /^body must be a string$/ },
    {
      name: "body of 4097 bytes",
      change: { body: "b".repeat(BODY_MAX_BYTES + 1) },
      message: /^body is 4097 bytes; the limit is 4096$/,
    },
    {
      name: "body over 4 KiB in multibyte chars",
      change: { body: "é".repeat(BODY_MAX_BYTES / 2 + 1) },
      message: /^body is 4098 bytes; the limit is 4096$/,
    },
    { name: "priority 0", change: { priority: 0 }, message: /^invalid priority 0: use 1-5$/ },
    { name: "priority 6", change: { priority: 6 }, message: /^invalid priority 6: use 1-5$/ },
    { name: 'priority "x"', change: { priority: "x" }, message: /^invalid priority "x": use 1-5$/ },
    { name: 'priority "3"', change: { priority: "3" }, message: /^invalid priority "3": use 1-5$/ },
    { name: "priority 2.5", change: { priority: 2.5 }, message: /^invalid priority 2\.5/ },
    { name: "missing priority", change: { priority: undefined }, message: /^invalid priority undefined/ },
    { name: "tags not a list", change: { tags: "ci" }, message: /^tags must be a list$/ },
    { name: "tag with a space", change: { tags: ["a b"] }, message: /^invalid tag "a b"/ },
    { name: "tag with a comma", change: { tags: ["a,b"] }, message: /^invalid tag "a,b"/ },
    { name: "tag with a newline", change: { tags: ["a\nb"] }, message: /^invalid tag "a\\nb"/ },
    { name: "empty tag", change: { tags: [""] }, message: /^invalid tag ""/ },
    { name: "tag not a string", change: { tags: [1] }, message: /^invalid tag 1/ },
    { name: "tag of 65 chars", change: { tags: ["t".repeat(65)] }, message: /^invalid tag/ },
    {
      name: "33 tags",
      change: { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
      message: /^33 tags; the limit is 32$/,
    },
    {
      name: "relative click",
      change: { click: "ci/812" },
      message: /^invalid click URL "ci\/812": use an absolute http, https or mailto URL$/,
    },
    {
      name: "click that runs code",
      change: { click: "javascript:alert(1)" },
      message: /^invalid click URL "javascript:alert\(1\)"/,
    },
    {
      name: "click to a local file",
      change: { click: "file:///etc/passwd" },
      message: /^invalid click URL "file:\/\/\/etc\/passwd"/,
    },
    {
      name: "time that does not exist",
      change: { time: "2026-02-30T00:00:00.000Z" },
      message: /^invalid time "2026-02-30T00:00:00.000Z"/,
    },
    { name: "click not a string", change: { click: 812 }, message: /^click must be a URL/ },
    { name: "click null", change: { click: null }, message: /^click must be a URL/ },
    {
      name: "click over 2048 chars",
      change: { click: "https://x.org/" + "a".repeat(2048) },
      message: /^click must be a URL of at most 2048 characters$/,
    },
    {
      name: "time without ms",
      change: { time: "2026-11-21T23:59:59Z" },
      message: /^invalid time "2026-11-21T23:59:59Z"/,
    },
    { name: "time with offset", change: { time: "2026-11-21T23:59:59.123+01:00" }, message: /^invalid time/ },
    { name: "time as a number", change: { time: NOW }, message: /^invalid time \d+/ },
    { name: "time month 13", change: { time: "2026-13-01T00:00:00.000Z" }, message: /^invalid time/ },
    { name: "time hour 25", change: { time: "2026-01-01T25:00:00.000Z" }, message: /^invalid time/ },
    { name: "missing time", change: { time: undefined }, message: /^invalid time undefined/ },
    { name: "bad expires", change: { expires: "tomorrow" }, message: /^invalid expires "tomorrow"/ },
    {
      name: "cache: true (absent says that)",
      change: { cache: true },
      message: /^invalid cache true: it is false or absent/,
    },
    { name: "cache as a string", change: { cache: "no" }, message: /^invalid cache "no"/ },
    { name: "source not an object", change: { source: "ci-01" }, message: /^source must be a JSON object$/ },
    { name: "missing source", change: { source: undefined }, message: /^source must be a JSON object$/ },
    {
      name: "unknown source field",
      change: { source: { host: "h", peer: "p", admin: true } },
      message: /^unknown field "source\.admin"$/,
    },
    { name: "empty source.host", change: { source: { host: "", peer: "p" } }, message: /^source\.host must be/ },
    {
      name: "long source.host",
      change: { source: { host: "h".repeat(256), peer: "p" } },
      message: /^source\.host must be 1-255 characters$/,
    },
    { name: "missing source.peer", change: { source: { host: "h" } }, message: /^source\.peer must be a peer id$/ },
    { name: "empty source.peer", change: { source: { host: "h", peer: "" } }, message: /^source\.peer must be/ },
    {
      name: "long source.user",
      change: { source: { host: "h", peer: "p", user: "u".repeat(65) } },
      message: /^source\.user must be at most 64 characters$/,
    },
    {
      name: "source.user not a string",
      change: { source: { host: "h", peer: "p", user: 1 } },
      message: /^source\.user/,
    },
  ];
  for (const { name, change, message } of cases) {
    await t.step(name, () => {
      const value = { ...validEvent(), ...change };
      for (const [key, v] of Object.entries(value)) if (v === undefined) delete value[key];
      assertEventError(() => validateEvent(value), message);
    });
  }
});

Deno.test("validateEvent() rejects what is not an object", async (t) => {
  for (const value of [null, [], "event", 3, undefined]) {
    await t.step(String(JSON.stringify(value)), () => {
      assertEventError(() => validateEvent(value), /^event must be a JSON object$/);
    });
  }
});

Deno.test("validateEvent() limits the whole event's size", async (t) => {
  const withData = (bytes: number) => ({ ...validEvent(), data: "d".repeat(bytes) });
  const baseSize = encoder.encode(JSON.stringify(withData(0))).length;
  await t.step("16 KiB by default", () => {
    validateEvent(withData(DEFAULT_MAX_EVENT_BYTES - baseSize));
    assertEventError(
      () => validateEvent(withData(DEFAULT_MAX_EVENT_BYTES - baseSize + 1)),
      new RegExp(`^event is ${DEFAULT_MAX_EVENT_BYTES + 1} bytes; the limit is ${DEFAULT_MAX_EVENT_BYTES}$`),
    );
  });
  await t.step("a configured limit", () => {
    const limits = { maxEventBytes: 1024 };
    validateEvent(withData(1024 - baseSize), limits);
    assertEventError(
      () => validateEvent(withData(1024 - baseSize + 1), limits),
      /^event is 1025 bytes; the limit is 1024$/,
    );
  });
  await t.step("counts bytes, not characters", () => {
    const event = { ...validEvent(), data: "€".repeat(6000) };
    assertEventError(() => validateEvent(event), /^event is \d+ bytes; the limit is 16384$/);
  });
});

Deno.test("encodeEvent() leaves out source.peer", () => {
  const event = createEvent({ body: "x", user: "ci" }, ORIGIN);
  const wire = JSON.parse(new TextDecoder().decode(encodeEvent(event)));
  assert.deepEqual(wire.source, { host: "ci-01", user: "ci" });
  assert.equal(event.source.peer, "12D3KooWPublisher", "the event itself keeps its peer");
});

Deno.test("decodeEvent() round-trips encodeEvent() exactly", async (t) => {
  const events: Record<string, HarkEvent> = {
    "minimal": createEvent({ body: "x" }, ORIGIN),
    "every field": createEvent(
      {
        topic: "builds",
        title: "Build #812 failed",
        body: "test_login timed out",
        priority: 4,
        tags: ["ci", "failed"],
        click: "https://ci.example.org/812",
        ttl: 600_000,
        data: { nested: { list: [1, 2.5, null, true, "s"] } },
        user: "ci",
      },
      ORIGIN,
    ),
    "user without data": createEvent({ title: "t", user: "u" }, ORIGIN),
    "hostile text": createEvent(
      {
        title: "\x1b[31mred\x1b[0m \u202e",
        body: "line 1\nline 2\r\n\u0000\ud800 \u2028 😀",
        data: JSON.parse('{"__proto__": {"polluted": true}, "\\ud83d": "lone"}'),
      },
      ORIGIN,
    ),
    "validated from JSON": validateEvent(validEvent()),
  };
  for (const [name, event] of Object.entries(events)) {
    await t.step(name, () => {
      const decoded = decodeEvent(encodeEvent(event), event.source.peer);
      assert.deepEqual(decoded, event);
      assert.equal(JSON.stringify(decoded), JSON.stringify(event));
    });
  }
});

Deno.test("decodeEvent() takes source.peer from the signer", () => {
  const event = createEvent({ body: "x" }, ORIGIN);
  const decoded = decodeEvent(encodeEvent(event), "12D3KooWSigner");
  assert.equal(decoded.source.peer, "12D3KooWSigner");
});

Deno.test("decodeEvent() rejects bad messages", async (t) => {
  const event = createEvent({ body: "x", user: "ci" }, ORIGIN);
  const json = (value: unknown) => encoder.encode(JSON.stringify(value));
  const wire = JSON.parse(new TextDecoder().decode(encodeEvent(event)));
  const cases: { name: string; bytes: Uint8Array; message: RegExp }[] = [
    {
      name: "a payload claiming another source.peer",
      bytes: json({ ...wire, source: { ...wire.source, peer: "12D3KooWSomeoneElse" } }),
      message: /^message claims a source\.peer; the signer is the source$/,
    },
    {
      name: "a payload claiming the signer as source.peer",
      bytes: json({ ...wire, source: { ...wire.source, peer: "12D3KooWSigner" } }),
      message: /^message claims a source\.peer/,
    },
    {
      name: "a payload with source.peer null",
      bytes: json({ ...wire, source: { ...wire.source, peer: null } }),
      message: /^message claims a source\.peer/,
    },
    { name: "invalid UTF-8", bytes: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), message: /^message is not UTF-8 JSON$/ },
    {
      name: "a truncated UTF-8 sequence in a string",
      bytes: new Uint8Array([...encoder.encode('{"title":"'), 0xe2, 0x82, ...encoder.encode('"}')]),
      message: /^message is not UTF-8 JSON$/,
    },
    { name: "not JSON", bytes: encoder.encode("title|text"), message: /^message is not UTF-8 JSON$/ },
    { name: "empty", bytes: new Uint8Array(), message: /^message is not UTF-8 JSON$/ },
    { name: "a JSON list", bytes: json([wire]), message: /^event must be a JSON object$/ },
    { name: "JSON null", bytes: json(null), message: /^event must be a JSON object$/ },
    { name: "no source", bytes: json({ ...wire, source: undefined }), message: /^source must be a JSON object$/ },
    { name: "an unknown field", bytes: json({ ...wire, extra: 1 }), message: /^unknown field "extra"$/ },
    {
      name: "an unknown source field",
      bytes: json({ ...wire, source: { ...wire.source, via: "x" } }),
      message: /^unknown field "source\.via"$/,
    },
    { name: "a bad topic", bytes: json({ ...wire, topic: "UP." }), message: /^invalid topic "UP."/ },
    {
      name: "an oversized message",
      bytes: json({ ...wire, data: "d".repeat(DEFAULT_MAX_EVENT_BYTES) }),
      message: /^message is \d+ bytes; the limit is 16384$/,
    },
  ];
  for (const { name, bytes, message } of cases) {
    await t.step(name, () => assertEventError(() => decodeEvent(bytes, "12D3KooWSigner"), message));
  }
});

/** `data` nested `depth` levels deep: `[[…]]`. */
function nested(depth: number): unknown {
  return JSON.parse("[".repeat(depth) + "]".repeat(depth));
}

Deno.test("the event model bounds the nesting of data, at both ends, without recursing", async (t) => {
  const deep = /^data is nested more than 32 levels deep/;
  await t.step("32 levels are accepted", () => {
    assert.ok(validateEvent({ ...validEvent(), data: nested(DATA_MAX_DEPTH) }));
    assert.ok(validateEvent({ ...validEvent(), data: { a: [{ b: nested(DATA_MAX_DEPTH - 3) }] } }));
  });
  await t.step("33 are refused where an event is made", () => {
    assertEventError(() => createEvent({ body: "x", data: nested(DATA_MAX_DEPTH + 1) }, ORIGIN), deep);
    assertEventError(() => createEvent({ body: "x", data: { a: { b: nested(DATA_MAX_DEPTH - 1) } } }, ORIGIN), deep);
  });
  await t.step("a draft from the control socket is refused before it reaches the agent's rate limit", () => {
    assertEventError(() => parseDraft({ body: "x", data: nested(DATA_MAX_DEPTH + 1) }), deep);
  });
  await t.step("1,000 levels in 16 KiB from the mesh are refused (SQLite's json_extract would fail on them)", () => {
    const { source: { peer: _, ...source }, ...rest } = validEvent() as unknown as HarkEvent;
    const bytes = encoder.encode(JSON.stringify({ ...rest, source, data: nested(1000) }));
    assert.ok(bytes.length < DEFAULT_MAX_EVENT_BYTES);
    assertEventError(() => decodeEvent(bytes, "12D3KooWPublisher"), deep);
  });
  await t.step("200,000 levels are refused, not a stack overflow", () => {
    assertEventError(() => createEvent({ body: "x", data: nested(200_000) }, ORIGIN), deep);
    const { source: { peer: _, ...source }, ...rest } = validEvent() as unknown as HarkEvent;
    const bytes = encoder.encode(
      JSON.stringify({ ...rest, source }).slice(0, -1) + ',"data":' + "[".repeat(200_000) + "]".repeat(200_000) + "}",
    );
    assertEventError(() => decodeEvent(bytes, "12D3KooWPublisher", { maxEventBytes: 1024 * 1024 }), deep);
  });
});

Deno.test("decodeEvent() applies the limit it is given", () => {
  const event = createEvent({ body: "x".repeat(600) }, ORIGIN);
  const bytes = encodeEvent(event);
  assert.ok(decodeEvent(bytes, ORIGIN.peer, { maxEventBytes: bytes.length + 100 }));
  assertEventError(
    () => decodeEvent(bytes, ORIGIN.peer, { maxEventBytes: 512 }),
    new RegExp(`^message is ${bytes.length} bytes; the limit is 512$`),
  );
});

Deno.test("parsePriority() reads numbers and names", async (t) => {
  const cases: [string | number, number][] = [
    [1, 1],
    [5, 5],
    ["1", 1],
    ["3", 3],
    [" 4 ", 4],
    ["min", 1],
    ["low", 2],
    ["default", 3],
    ["high", 4],
    ["urgent", 5],
    ["max", 5],
    ["HIGH", 4],
    [" Urgent ", 5],
  ];
  for (const [text, priority] of cases) {
    await t.step(JSON.stringify(text), () => assert.equal(parsePriority(text), priority));
  }
});

Deno.test("parsePriority() rejects what is not a priority", async (t) => {
  const cases: (string | number)[] = [0, 6, -1, 2.5, NaN, "0", "6", "x", "", "highest", "constructor", "__proto__"];
  for (const text of cases) {
    await t.step(typeof text === "number" ? String(text) : JSON.stringify(text), () => {
      assertEventError(
        () => parsePriority(text),
        /^invalid priority ".*": use 1-5 or min, low, default, high, urgent$/,
      );
    });
  }
});

Deno.test("parseDraft() accepts a draft from JSON", async (t) => {
  await t.step("every field", () => {
    const draft = parseDraft({
      topic: "builds",
      title: "t",
      body: "b",
      priority: "high",
      tags: ["ci"],
      click: "https://x.org/",
      ttl: 1000,
      data: { a: 1 },
      user: "ci",
    });
    assert.deepEqual(draft, {
      topic: "builds",
      title: "t",
      body: "b",
      priority: 4,
      tags: ["ci"],
      click: "https://x.org/",
      ttl: 1000,
      data: { a: 1 },
      user: "ci",
    });
  });
  await t.step("an empty draft", () => assert.deepEqual(parseDraft({}), {}));
  await t.step("a numeric priority", () => assert.equal(parseDraft({ priority: 2 }).priority, 2));
  await t.step("a draft that createEvent() accepts", () => {
    const event = createEvent(parseDraft(JSON.parse('{"body":"x","priority":"urgent"}')), ORIGIN);
    assert.equal(event.priority, 5);
  });
});

Deno.test("parseDraft() rejects bad drafts", async (t) => {
  const cases: { name: string; value: unknown; message: RegExp }[] = [
    { name: "not an object", value: "hello", message: /^event must be a JSON object$/ },
    { name: "a list", value: [], message: /^event must be a JSON object$/ },
    { name: "null", value: null, message: /^event must be a JSON object$/ },
    { name: "unknown field", value: { body: "x", id: ID }, message: /^unknown field "id"$/ },
    { name: "source is not a draft field", value: { source: { peer: "p" } }, message: /^unknown field "source"$/ },
    { name: "topic not a string", value: { topic: 1 }, message: /^topic must be a string$/ },
    { name: "title not a string", value: { title: ["t"] }, message: /^title must be a string$/ },
    { name: "body not a string", value: { body: 1 }, message: /^body must be a string$/ },
    { name: "click not a string", value: { click: {} }, message: /^click must be a string$/ },
    { name: "user not a string", value: { user: false }, message: /^user must be a string$/ },
    { name: "ttl not a number", value: { ttl: "10m" }, message: /^ttl must be a number of milliseconds$/ },
    { name: "priority a bool", value: { priority: true }, message: /^priority must be 1-5 or a priority name$/ },
    { name: "priority 9", value: { priority: 9 }, message: /^invalid priority "9"/ },
    { name: "priority unknown name", value: { priority: "loud" }, message: /^invalid priority "loud"/ },
    { name: "bad topic", value: { topic: "a b" }, message: /^invalid topic "a b"/ },
  ];
  for (const { name, value, message } of cases) {
    await t.step(name, () => assertEventError(() => parseDraft(value), message));
  }
});

Deno.test("parsePriority() accepts only single digits and names", () => {
  for (const text of ["0x3", "3e0", " 3.0", "03"]) assert.throws(() => parsePriority(text), EventError, text);
  assert.equal(parsePriority(" 4 "), 4);
});

Deno.test("createEvent() rejects a ttl too far in the future with an EventError", () => {
  assert.throws(
    () => createEvent({ body: "x", ttl: 1e20 }, { id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K", now: 0, host: "h", peer: "p" }),
    EventError,
    "too far in the future",
  );
});

Deno.test("a sequence key and a kind ride in the event; a clear or delete needs no text but names its sequence", () => {
  const update = createEvent({ topic: "deploys", body: "tests passed", sequence: "deploy-42" }, ORIGIN);
  assert.equal(update.sequence, "deploy-42");
  assert.equal(update.kind, undefined);
  const clear = createEvent({ topic: "deploys", kind: "clear", sequence: "deploy-42" }, ORIGIN);
  assert.deepEqual([clear.kind, clear.sequence, clear.body], ["clear", "deploy-42", ""]);
  // "message" is the default and is left out, so an ordinary event stays as it was.
  assert.equal(createEvent({ body: "x", kind: "message" }, ORIGIN).kind, undefined);
  assert.deepEqual(validateEvent({ ...validEvent(), sequence: ID, kind: "delete" }).kind, "delete");
  const wire = decodeEvent(encodeEvent(clear), ORIGIN.peer);
  assert.deepEqual(wire, clear);
});

Deno.test("a sequence outside ntfy's alphabet, an unknown kind and a clear without a sequence are refused", () => {
  assertEventError(() => validateEvent({ ...validEvent(), sequence: "has space" }), /invalid sequence/);
  assertEventError(() => validateEvent({ ...validEvent(), sequence: "x".repeat(65) }), /invalid sequence/);
  assertEventError(() => validateEvent({ ...validEvent(), kind: "read" }), /invalid kind "read"/);
  assertEventError(() => validateEvent({ ...validEvent(), kind: "clear" }), /"clear" event needs the sequence/);
  assertEventError(() => createEvent({ kind: "delete" }, ORIGIN), /"delete" event needs the sequence/);
  assertEventError(() => parseDraft({ body: "x", sequence: 5 }), /sequence must be a string/);
  assert.deepEqual(parseDraft({ kind: "clear", sequence: "k" }), { kind: "clear", sequence: "k" });
});

Deno.test("Markdown, an icon and an attachment ride in the event and round-trip over the wire", () => {
  const attachment = {
    name: "cam.jpg",
    url: "https://cam.example/cam.jpg",
    type: "image/jpeg",
    size: 1024,
    expires: "2026-11-22T23:59:59.000Z",
  };
  const event = createEvent(
    { body: "**door**", markdown: true, icon: "https://cam.example/icon.png", attachment },
    ORIGIN,
  );
  assert.deepEqual([event.markdown, event.icon, event.attachment], [true, "https://cam.example/icon.png", attachment]);
  assert.deepEqual(decodeEvent(encodeEvent(event), ORIGIN.peer), event);
  // Plain text has no markdown field, and an event without them is as it was.
  assert.equal(createEvent({ body: "x", markdown: false }, ORIGIN).markdown, undefined);
  assert.deepEqual(Object.keys(createEvent({ body: "x" }, ORIGIN)).sort(), [
    "body",
    "id",
    "priority",
    "source",
    "tags",
    "time",
    "title",
    "topic",
  ]);
  assert.deepEqual(
    parseDraft({
      body: "x",
      markdown: true,
      icon: "https://i.example/a.png",
      attachment: { name: "a", url: "http://f/a" },
    }),
    { body: "x", markdown: true, icon: "https://i.example/a.png", attachment: { name: "a", url: "http://f/a" } },
  );
});

Deno.test("the event model refuses a bad markdown, icon or attachment on every receiver", async (t) => {
  const file = { name: "a.jpg", url: "https://f.example/a.jpg" };
  const cases: { name: string; change: Record<string, unknown>; message: RegExp }[] = [
    { name: "markdown false is never written", change: { markdown: false }, message: /invalid markdown false/ },
    { name: "markdown as a string", change: { markdown: "yes" }, message: /invalid markdown "yes"/ },
    { name: "icon not a URL", change: { icon: "cat.png" }, message: /invalid icon "cat.png": use an absolute http/ },
    { name: "icon as a file URL", change: { icon: "file:///etc/passwd" }, message: /invalid icon/ },
    { name: "icon as a data URL", change: { icon: "data:image/png;base64,AAAA" }, message: /invalid icon/ },
    { name: "icon too long", change: { icon: `https://x.example/${"a".repeat(2048)}` }, message: /invalid icon/ },
    {
      name: "attachment not an object",
      change: { attachment: "https://f/a" },
      message: /attachment must be an object/,
    },
    { name: "attachment without a url", change: { attachment: { name: "a" } }, message: /invalid attachment.url/ },
    {
      name: "attachment by a javascript URL",
      change: { attachment: { ...file, url: "javascript:alert(1)" } },
      message: /invalid attachment.url/,
    },
    {
      name: "attachment without a name",
      change: { attachment: { url: file.url } },
      message: /attachment.name must be/,
    },
    {
      name: "attachment name with a slash",
      change: { attachment: { ...file, name: "../../.bashrc" } },
      message: /attachment.name must be/,
    },
    {
      name: "attachment name with a newline",
      change: { attachment: { ...file, name: "a\nb" } },
      message: /attachment.name must be/,
    },
    {
      name: "attachment name with a bidi override",
      change: { attachment: { ...file, name: "cod\u202Egpj.exe" } },
      message: /attachment.name must be/,
    },
    {
      name: "attachment name too long",
      change: { attachment: { ...file, name: "a".repeat(256) } },
      message: /attachment.name must be 1-255/,
    },
    {
      name: "attachment type not a MIME type",
      change: { attachment: { ...file, type: "image jpeg" } },
      message: /invalid attachment.type/,
    },
    {
      name: "attachment size negative",
      change: { attachment: { ...file, size: -1 } },
      message: /invalid attachment.size -1/,
    },
    {
      name: "attachment size as a string",
      change: { attachment: { ...file, size: "10" } },
      message: /invalid attachment.size "10"/,
    },
    {
      name: "attachment expires in unix seconds",
      change: { attachment: { ...file, expires: 1700000000 } },
      message: /invalid attachment.expires 1700000000/,
    },
    {
      name: "attachment with an unknown field",
      change: { attachment: { ...file, owner: "x" } },
      message: /unknown field "attachment.owner"/,
    },
  ];
  for (const { name, change, message } of cases) {
    await t.step(name, () => {
      assertEventError(() => validateEvent({ ...validEvent(), ...change }), message);
      // The same check where it arrives from the mesh.
      const { peer: _peer, ...source } = validEvent().source as Record<string, unknown>;
      const bytes = encoder.encode(JSON.stringify({ ...validEvent(), ...change, source }));
      assertEventError(() => decodeEvent(bytes, "12D3KooWPublisher"), message);
    });
  }
  assertEventError(() => parseDraft({ body: "x", markdown: "yes" }), /markdown must be true or false/);
  assertEventError(() => parseDraft({ body: "x", icon: "ftp://x/a.png" }), /invalid icon/);
  assertEventError(() => parseDraft({ body: "x", attachment: { name: "a" } }), /invalid attachment.url/);
});

Deno.test("a broadcast action is an intent and extras, bounded and without control characters", async (t) => {
  const ok = createEvent(
    {
      body: "x",
      actions: [{
        action: "broadcast",
        label: "Take picture",
        intent: "io.heckel.ntfy.USER_ACTION",
        extras: { cmd: "pic" },
      }],
    },
    ORIGIN,
  );
  assert.equal(ok.actions?.[0].action, "broadcast");
  const bad: { name: string; action: Record<string, unknown>; message: RegExp }[] = [
    { name: "a URL", action: { url: "https://x.example/" }, message: /unknown field "actions\[0\].url"/ },
    { name: "an intent with a space", action: { intent: "do it" }, message: /intent must be an Android action name/ },
    { name: "extras as a list", action: { extras: ["a"] }, message: /extras must be an object/ },
    { name: "an extra that is a number", action: { extras: { n: 1 } }, message: /extras.n must be a string/ },
    { name: "an extra with a newline", action: { extras: { n: "a\nb" } }, message: /without control characters/ },
    {
      name: "nine extras",
      action: { extras: Object.fromEntries([..."abcdefghi"].map((k) => [k, "v"])) },
      message: /at most 8 extras/,
    },
  ];
  for (const { name, action, message } of bad) {
    await t.step(name, () => {
      assertEventError(
        () => validateEvent({ ...validEvent(), actions: [{ action: "broadcast", label: "L", ...action }] }),
        message,
      );
    });
  }
});
