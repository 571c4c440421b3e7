import assert from "node:assert/strict";
import { generateKeyPair } from "../mesh/libp2p.ts";
import {
  decodeEvents,
  decodeKeys,
  decodeRequest,
  decodeWant,
  encodeError,
  encodeEvents,
  encodeKeys,
  encodeRequest,
  encodeWant,
  type EventsFrame,
  type Key,
  KEYS_PER_FRAME,
  MAX_FRAME_BYTES,
  MAX_SUMMARY_PAIRS,
  PeerRefusedError,
  ProtocolError,
  recordFrameBytes,
} from "./wire.ts";
import { type SignedRecord, signRecord, verifyRecord } from "../event/signed_record.ts";
import { MAX_EVENT_BYTES_CEILING } from "../event/event.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const PEER_A = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf";
const PEER_B = "12D3KooWHFrmLWTTDD4NodngtRMEVYgxrsDhp9NRpMfmGSWZnBGW";

/** A frame as a peer might send it: any JSON value. */
function frame(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function json(bytes: Uint8Array): Record<string, unknown> {
  return JSON.parse(decoder.decode(bytes));
}

const DECODERS: { name: string; decode: (bytes: Uint8Array) => unknown }[] = [
  { name: "decodeRequest", decode: decodeRequest },
  { name: "decodeKeys", decode: decodeKeys },
  { name: "decodeWant", decode: decodeWant },
  { name: "decodeEvents", decode: decodeEvents },
];

/** Passes if `fn` throws a ProtocolError (and not a PeerRefusedError or anything else). */
function assertProtocolError(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
    assert.equal(error.name, "ProtocolError");
    return true;
  });
}

/** A record with arbitrary bytes: the wire does not check signatures. */
function record(publisher: string, topic: string, data: Uint8Array): SignedRecord {
  return {
    publisher,
    topic,
    data,
    seqno: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    signature: Uint8Array.from({ length: 64 }, (_, i) => 255 - i),
  };
}

const VALID_REQUEST = { topics: ["default"], after: 0, store: null };
const VALID_KEYS = { keys: [[0, "01J"]], publishers: [PEER_A], upto: 1, store: "s", end: false };
const VALID_EVENT = { p: PEER_A, t: "default", d: "AAE=", q: "AAAAAAAAAAE=", s: "AQID" };
const VALID_EVENTS = { events: [VALID_EVENT], last: true };

Deno.test("wire fixtures are valid before each test breaks one field", () => {
  // Each hostile case below changes one thing in these; they must pass untouched.
  assert.deepEqual(decodeRequest(frame(VALID_REQUEST)), { topics: ["default"], after: 0, store: undefined });
  assert.deepEqual(decodeKeys(frame(VALID_KEYS)), {
    keys: [{ publisher: PEER_A, id: "01J" }],
    upto: 1,
    store: "s",
    end: false,
  });
  assert.deepEqual(decodeWant(frame({ want: [[PEER_A, "01J"]] })), [{ publisher: PEER_A, id: "01J" }]);
  assert.equal(decodeEvents(frame(VALID_EVENTS)).events.length, 1);
});

Deno.test("encodeRequest() and decodeRequest() round trip", async (t) => {
  const cases = [
    { name: "with a store", request: { topics: ["default", "builds"], after: 42, store: "store-1" } },
    { name: "without a store", request: { topics: ["default"], after: 0 } },
    { name: "no topics", request: { topics: [], after: 7 } },
    { name: "the largest safe sequence", request: { topics: ["a"], after: Number.MAX_SAFE_INTEGER, store: "s" } },
    { name: "256 topics", request: { topics: Array.from({ length: 256 }, (_, i) => `t${i}`), after: 1 } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const decoded = decodeRequest(encodeRequest(c.request));
      assert.deepEqual(decoded, { ...c.request, store: c.request.store });
    });
  }
});

Deno.test("decodeRequest() throws ProtocolError on a hostile request", async (t) => {
  const cases: { name: string; value: unknown }[] = [
    { name: "topics missing", value: { after: 0, store: null } },
    { name: "topics not a list", value: { ...VALID_REQUEST, topics: "default" } },
    { name: "topics an object", value: { ...VALID_REQUEST, topics: { 0: "default" } } },
    { name: "a topic with two dots", value: { ...VALID_REQUEST, topics: ["de..fault"] } },
    { name: "an empty topic", value: { ...VALID_REQUEST, topics: [""] } },
    { name: "a topic with a slash", value: { ...VALID_REQUEST, topics: ["hark/default"] } },
    { name: "a topic of 65 characters", value: { ...VALID_REQUEST, topics: ["a".repeat(65)] } },
    { name: "a topic that is a number", value: { ...VALID_REQUEST, topics: [5] } },
    { name: "a topic that is null", value: { ...VALID_REQUEST, topics: [null] } },
    { name: "257 topics", value: { ...VALID_REQUEST, topics: Array.from({ length: 257 }, (_, i) => `t${i}`) } },
    { name: "after missing", value: { topics: ["default"], store: null } },
    { name: "after negative", value: { ...VALID_REQUEST, after: -1 } },
    { name: "after not an integer", value: { ...VALID_REQUEST, after: 1.5 } },
    { name: "after unsafe", value: { ...VALID_REQUEST, after: 2 ** 53 } },
    { name: "after huge", value: { ...VALID_REQUEST, after: 1e300 } },
    { name: "after a string", value: { ...VALID_REQUEST, after: "5" } },
    { name: "after null", value: { ...VALID_REQUEST, after: null } },
    { name: "store a number", value: { ...VALID_REQUEST, store: 5 } },
    { name: "store an object", value: { ...VALID_REQUEST, store: {} } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assertProtocolError(() => decodeRequest(frame(c.value))));
  }
});

const VALID_HAVE = { publishers: [PEER_A, PEER_B], pairs: [[0, 0, 3, 12], [1, 1, 1, 0]] };

Deno.test("encodeRequest() and decodeRequest() round trip a summary of what the requester holds", async (t) => {
  const topics = ["default", "builds"];
  const cases = [
    { name: "none", have: [] },
    {
      name: "pairs of two topics and publishers",
      have: [
        { topic: "builds", publisher: PEER_A, count: 25_000, sum: 25_000 * (2 ** 32 - 1) },
        { topic: "default", publisher: PEER_A, count: 2, sum: 0 },
        { topic: "builds", publisher: PEER_B, count: 1, sum: 7 },
      ],
    },
    { name: "the largest safe sum", have: [{ topic: "default", publisher: PEER_B, count: 1, sum: 2 ** 53 - 1 }] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const decoded = decodeRequest(encodeRequest({ topics, after: 0, have: c.have }));
      assert.deepEqual(decoded, { topics, after: 0, store: undefined, have: c.have });
    });
  }
  await t.step("each publisher is named once", () => {
    const have = [
      { topic: "default", publisher: PEER_A, count: 2, sum: 3 },
      { topic: "builds", publisher: PEER_A, count: 1, sum: 4 },
    ];
    assert.deepEqual(json(encodeRequest({ topics, after: 0, have })).have, {
      publishers: [PEER_A],
      pairs: [[0, 0, 2, 3], [1, 0, 1, 4]],
    });
  });
  await t.step("a pair on a topic not requested is left out", () => {
    const have = [{ topic: "other", publisher: PEER_A, count: 2, sum: 3 }];
    assert.deepEqual(decodeRequest(encodeRequest({ topics, after: 0, have })).have, []);
  });
  await t.step("without a summary the frame is as before", () => {
    assert.deepEqual(Object.keys(json(encodeRequest({ topics, after: 0 }))), ["topics", "after", "store"]);
    assert.equal(decodeRequest(encodeRequest({ topics, after: 0 })).have, undefined);
  });
});

Deno.test("encodeRequest() keeps the first MAX_SUMMARY_PAIRS pairs, well within the frame limit", () => {
  // Real peer ids (52 characters), every pair a publisher of its own, counts and sums at their largest.
  const publisher = (i: number) => `12D3KooW${String(i).padStart(44, "x")}`;
  const have = Array.from({ length: MAX_SUMMARY_PAIRS + 500 }, (_, i) => ({
    topic: "default",
    publisher: publisher(i),
    count: 25_000,
    sum: 25_000 * (2 ** 32 - 1),
  }));
  const bytes = encodeRequest({
    topics: Array.from({ length: 256 }, (_, i) => i ? `t${i}` : "default"),
    after: 0,
    have,
  });
  assert.ok(bytes.length < MAX_FRAME_BYTES / 2, `${bytes.length} bytes`);
  const decoded = decodeRequest(bytes).have!;
  assert.equal(decoded.length, MAX_SUMMARY_PAIRS);
  assert.deepEqual(decoded.at(-1), have[MAX_SUMMARY_PAIRS - 1]);
});

Deno.test("decodeRequest() ignores fields it does not know, as agents before the summary ignore it", () => {
  const request = { ...VALID_REQUEST, topics: ["default", "builds"], have: VALID_HAVE, later: { anything: [1, 2] } };
  assert.deepEqual(Object.keys(decodeRequest(frame(request))), ["topics", "after", "store", "have"]);
  assert.deepEqual(decodeRequest(frame({ ...VALID_REQUEST, later: 1 })), {
    topics: ["default"],
    after: 0,
    store: undefined,
  });
  assert.equal(decodeRequest(frame({ ...VALID_REQUEST, have: null })).have, undefined, "null is no summary");
});

Deno.test("decodeRequest() throws ProtocolError on a malformed summary", async (t) => {
  const request = { ...VALID_REQUEST, topics: ["default", "builds"] };
  assert.equal(decodeRequest(frame({ ...request, have: VALID_HAVE })).have!.length, 2, "the fixture is valid");
  const pairs = (...list: unknown[]) => ({ ...VALID_HAVE, pairs: list });
  const cases: { name: string; have: unknown }[] = [
    { name: "a list", have: [] },
    { name: "a number", have: 5 },
    { name: "a string", have: "all" },
    { name: "publishers missing", have: { pairs: [] } },
    { name: "publishers not a list", have: { ...VALID_HAVE, publishers: PEER_A } },
    { name: "a publisher a number", have: { ...VALID_HAVE, publishers: [5] } },
    { name: "an empty publisher", have: { ...VALID_HAVE, publishers: [""] } },
    { name: "a publisher of 129 characters", have: { ...VALID_HAVE, publishers: ["p".repeat(129)] } },
    {
      name: `${MAX_SUMMARY_PAIRS + 1} publishers`,
      have: { publishers: Array.from({ length: MAX_SUMMARY_PAIRS + 1 }, (_, i) => `p${i}`), pairs: [] },
    },
    { name: "pairs missing", have: { publishers: [] } },
    { name: "pairs an object", have: { ...VALID_HAVE, pairs: { 0: [0, 0, 1, 1] } } },
    {
      name: `${MAX_SUMMARY_PAIRS + 1} pairs`,
      have: pairs(...Array.from({ length: MAX_SUMMARY_PAIRS + 1 }, () => [0, 0, 1, 1])),
    },
    { name: "a pair of three", have: pairs([0, 0, 1]) },
    { name: "a pair of five", have: pairs([0, 0, 1, 1, 1]) },
    { name: "a pair an object", have: pairs({ t: 0, p: 0, count: 1, sum: 1 }) },
    { name: "a topic index past the topics", have: pairs([2, 0, 1, 1]) },
    { name: "a publisher index past the publishers", have: pairs([0, 2, 1, 1]) },
    { name: "a negative index", have: pairs([-1, 0, 1, 1]) },
    { name: "a fractional index", have: pairs([0.5, 0, 1, 1]) },
    { name: "an index as a string", have: pairs(["0", 0, 1, 1]) },
    { name: "a count of 0", have: pairs([0, 0, 0, 0]) },
    { name: "a negative count", have: pairs([0, 0, -1, 1]) },
    { name: "a fractional count", have: pairs([0, 0, 1.5, 1]) },
    { name: "a negative sum", have: pairs([0, 0, 1, -1]) },
    { name: "an unsafe sum", have: pairs([0, 0, 1, 2 ** 53]) },
    { name: "a sum of null", have: pairs([0, 0, 1, null]) },
    { name: "a pair twice", have: pairs([0, 0, 1, 1], [0, 0, 2, 2]) },
    {
      name: "a pair twice by two names of one publisher",
      have: { publishers: [PEER_A, PEER_A], pairs: [[0, 0, 1, 1], [0, 1, 1, 1]] },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assertProtocolError(() => decodeRequest(frame({ ...request, have: c.have }))));
  }
});

Deno.test("encodeKeys() names each publisher once and decodeKeys() restores the keys", () => {
  const keys: Key[] = [
    { publisher: PEER_A, id: "01A" },
    { publisher: PEER_B, id: "01B" },
    { publisher: PEER_A, id: "01C" },
    { publisher: PEER_B, id: "01D" },
    { publisher: PEER_A, id: "01E" },
  ];
  const bytes = encodeKeys({ keys, upto: 99, store: "store-1", end: true });
  const wire = json(bytes);
  assert.deepEqual(wire.publishers, [PEER_A, PEER_B], "a dictionary of publishers, in first-seen order");
  assert.deepEqual(wire.keys, [[0, "01A"], [1, "01B"], [0, "01C"], [1, "01D"], [0, "01E"]]);
  assert.deepEqual(decodeKeys(bytes), { keys, upto: 99, store: "store-1", end: true });
});

Deno.test("encodeKeys() and decodeKeys() round trip", async (t) => {
  const full = Array.from({ length: KEYS_PER_FRAME }, (_, i) => ({ publisher: i % 2 ? PEER_A : PEER_B, id: `id${i}` }));
  const cases = [
    { name: "no keys, the end", frame: { keys: [], upto: 0, store: "s", end: true } },
    {
      name: "one key, more to come",
      frame: { keys: [{ publisher: PEER_A, id: "x" }], upto: 5, store: "s", end: false },
    },
    { name: "a full frame", frame: { keys: full, upto: Number.MAX_SAFE_INTEGER, store: "s".repeat(64), end: false } },
    {
      name: "an id of 64 characters",
      frame: { keys: [{ publisher: PEER_B, id: "i".repeat(64) }], upto: 1, store: "", end: true },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepEqual(decodeKeys(encodeKeys(c.frame)), c.frame));
  }
});

Deno.test("decodeKeys() throws ProtocolError on a hostile keys frame", async (t) => {
  const tooMany = Array.from({ length: KEYS_PER_FRAME + 1 }, (_, i) => [0, `id${i}`]);
  const cases: { name: string; value: unknown }[] = [
    { name: "publishers missing", value: { ...VALID_KEYS, publishers: undefined } },
    { name: "publishers not a list", value: { ...VALID_KEYS, publishers: PEER_A } },
    { name: "a publisher that is a number", value: { ...VALID_KEYS, publishers: [1] } },
    { name: "a publisher of 129 characters", value: { ...VALID_KEYS, publishers: ["p".repeat(129)] } },
    { name: "keys missing", value: { ...VALID_KEYS, keys: undefined } },
    { name: "keys not a list", value: { ...VALID_KEYS, keys: { 0: [0, "a"] } } },
    { name: `more than ${KEYS_PER_FRAME} keys`, value: { ...VALID_KEYS, keys: tooMany } },
    { name: "a key that is a string", value: { ...VALID_KEYS, keys: ["01J"] } },
    { name: "a key that is an object", value: { ...VALID_KEYS, keys: [{ publisher: 0, id: "01J" }] } },
    { name: "a key of one element", value: { ...VALID_KEYS, keys: [[0]] } },
    { name: "a key of three elements", value: { ...VALID_KEYS, keys: [[0, "a", "b"]] } },
    { name: "a key whose id is a number", value: { ...VALID_KEYS, keys: [[0, 1]] } },
    { name: "a key whose id is 65 characters", value: { ...VALID_KEYS, keys: [[0, "i".repeat(65)]] } },
    { name: "a publisher index past the end", value: { ...VALID_KEYS, keys: [[1, "a"]] } },
    { name: "a publisher index with no publishers", value: { ...VALID_KEYS, publishers: [], keys: [[0, "a"]] } },
    { name: "a negative publisher index", value: { ...VALID_KEYS, keys: [[-1, "a"]] } },
    { name: "a fractional publisher index", value: { ...VALID_KEYS, keys: [[0.5, "a"]] } },
    { name: "a publisher index as a string", value: { ...VALID_KEYS, keys: [["0", "a"]] } },
    { name: "a publisher index that is a property", value: { ...VALID_KEYS, keys: [["length", "a"]] } },
    { name: "a publisher index that is null", value: { ...VALID_KEYS, keys: [[null, "a"]] } },
    { name: "a publisher name instead of an index", value: { ...VALID_KEYS, keys: [[PEER_A, "a"]] } },
    { name: "upto missing", value: { ...VALID_KEYS, upto: undefined } },
    { name: "upto negative", value: { ...VALID_KEYS, upto: -5 } },
    { name: "upto not an integer", value: { ...VALID_KEYS, upto: 2.5 } },
    { name: "upto unsafe", value: { ...VALID_KEYS, upto: 2 ** 60 } },
    { name: "upto a string", value: { ...VALID_KEYS, upto: "1" } },
    { name: "store missing", value: { ...VALID_KEYS, store: undefined } },
    { name: "store null", value: { ...VALID_KEYS, store: null } },
    { name: "store a number", value: { ...VALID_KEYS, store: 1 } },
    { name: "store of 65 characters", value: { ...VALID_KEYS, store: "s".repeat(65) } },
    { name: "end missing", value: { ...VALID_KEYS, end: undefined } },
    { name: "end a string", value: { ...VALID_KEYS, end: "true" } },
    { name: "end a number", value: { ...VALID_KEYS, end: 1 } },
    { name: "end null", value: { ...VALID_KEYS, end: null } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assertProtocolError(() => decodeKeys(frame(c.value))));
  }
});

Deno.test("encodeWant() and decodeWant() round trip", async (t) => {
  const cases: { name: string; keys: Key[] }[] = [
    { name: "nothing wanted", keys: [] },
    { name: "two publishers", keys: [{ publisher: PEER_A, id: "1" }, { publisher: PEER_B, id: "2" }] },
    {
      name: `${KEYS_PER_FRAME} keys`,
      keys: Array.from({ length: KEYS_PER_FRAME }, (_, i) => ({ publisher: PEER_A, id: `${i}` })),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepEqual(decodeWant(encodeWant(c.keys)), c.keys));
  }
});

Deno.test("decodeWant() throws ProtocolError on a hostile want frame", async (t) => {
  const tooMany = Array.from({ length: KEYS_PER_FRAME + 1 }, (_, i) => [PEER_A, `${i}`]);
  const cases: { name: string; value: unknown }[] = [
    { name: "want missing", value: {} },
    { name: "want not a list", value: { want: PEER_A } },
    { name: "want an object", value: { want: { 0: [PEER_A, "1"] } } },
    { name: `more than ${KEYS_PER_FRAME} keys`, value: { want: tooMany } },
    { name: "a key that is a string", value: { want: ["1"] } },
    { name: "a key that is an object", value: { want: [{ publisher: PEER_A, id: "1" }] } },
    { name: "a key of one element", value: { want: [[PEER_A]] } },
    { name: "a key of three elements", value: { want: [[PEER_A, "1", "2"]] } },
    { name: "a publisher index instead of a name", value: { want: [[0, "1"]] } },
    { name: "an id that is a number", value: { want: [[PEER_A, 1]] } },
    { name: "an id that is null", value: { want: [[PEER_A, null]] } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assertProtocolError(() => decodeWant(frame(c.value))));
  }
});

Deno.test("encodeEvents() and decodeEvents() round trip", async (t) => {
  const key = await generateKeyPair("Ed25519");
  const signed = await signRecord(key, "builds", encoder.encode('{"body":"signed"}'));
  const cases: { name: string; frame: EventsFrame }[] = [
    { name: "no events, the last frame", frame: { events: [], last: true } },
    // libp2p signs into a Buffer; the wire gives back plain Uint8Arrays.
    {
      name: "a signed record",
      frame: { events: [{ ...signed, signature: Uint8Array.from(signed.signature) }], last: false },
    },
    {
      name: "every byte value, and lengths that need base64 padding",
      frame: {
        events: [
          record(PEER_A, "default", Uint8Array.from({ length: 256 }, (_, i) => i)),
          record(PEER_B, "a.b_c-9", Uint8Array.from([1])),
          record(PEER_A, "x".repeat(64), Uint8Array.from([1, 2])),
          record(PEER_B, "default", new Uint8Array(0)),
        ],
        last: true,
      },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const decoded = decodeEvents(encodeEvents(c.frame));
      assert.deepEqual(decoded, c.frame);
    });
  }
  await t.step("a signed record still verifies after the trip", async () => {
    const [decoded] = decodeEvents(encodeEvents({ events: [signed], last: true })).events;
    assert.equal(await verifyRecord(decoded), true);
  });
});

Deno.test("decodeEvents() throws ProtocolError on a hostile events frame", async (t) => {
  const withEvent = (change: Record<string, unknown>) => ({ ...VALID_EVENTS, events: [{ ...VALID_EVENT, ...change }] });
  const cases: { name: string; value: unknown }[] = [
    { name: "events missing", value: { last: true } },
    { name: "events not a list", value: { events: VALID_EVENT, last: true } },
    { name: "last missing", value: { events: [] } },
    { name: "last a string", value: { events: [], last: "true" } },
    { name: "last a number", value: { events: [], last: 1 } },
    { name: "last null", value: { events: [], last: null } },
    { name: "an event that is null", value: { events: [null], last: true } },
    { name: "an event that is a string", value: { events: ["event"], last: true } },
    { name: "an event that is a list", value: { events: [[PEER_A, "default", "AA==", "AA==", "AA=="]], last: true } },
    { name: "p missing", value: withEvent({ p: undefined }) },
    { name: "t missing", value: withEvent({ t: undefined }) },
    { name: "d missing", value: withEvent({ d: undefined }) },
    { name: "q missing", value: withEvent({ q: undefined }) },
    { name: "s missing", value: withEvent({ s: undefined }) },
    { name: "p a number", value: withEvent({ p: 1 }) },
    { name: "d a list of bytes", value: withEvent({ d: [0, 1] }) },
    { name: "q a number", value: withEvent({ q: 1 }) },
    { name: "s null", value: withEvent({ s: null }) },
    { name: "t with a leading dot", value: withEvent({ t: ".default" }) },
    { name: "t with the wire prefix", value: withEvent({ t: "hark/default" }) },
    { name: "t empty", value: withEvent({ t: "" }) },
    { name: "t of 65 characters", value: withEvent({ t: "t".repeat(65) }) },
    { name: "d not base64", value: withEvent({ d: "!!!!" }) },
    { name: "q not base64", value: withEvent({ q: "not base64?" }) },
    { name: "s not base64", value: withEvent({ s: "AQ*D" }) },
    { name: "d base64url, not base64", value: withEvent({ d: "-_-_" }) },
    { name: "a bad event after a good one", value: { events: [VALID_EVENT, { ...VALID_EVENT, d: "%" }], last: true } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assertProtocolError(() => decodeEvents(frame(c.value))));
  }
});

Deno.test("every decoder throws ProtocolError on a frame that is not a JSON object", async (t) => {
  const cases: { name: string; bytes: Uint8Array }[] = [
    { name: "empty", bytes: new Uint8Array(0) },
    { name: "not JSON", bytes: encoder.encode("hello") },
    { name: "truncated JSON", bytes: encoder.encode('{"topics":["default"]') },
    { name: "not UTF-8", bytes: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { name: "a lone UTF-8 continuation byte", bytes: Uint8Array.from([0x22, 0x80, 0x22]) },
    { name: "a JSON array", bytes: frame([VALID_REQUEST]) },
    { name: "an empty JSON array", bytes: frame([]) },
    { name: "JSON null", bytes: frame(null) },
    { name: "a JSON number", bytes: frame(42) },
    { name: "a JSON string", bytes: frame("error") },
    { name: "JSON true", bytes: frame(true) },
    { name: "an empty object", bytes: frame({}) },
  ];
  for (const c of cases) {
    for (const { name, decode } of DECODERS) {
      await t.step(`${name}(): ${c.name}`, () => assertProtocolError(() => decode(c.bytes)));
    }
  }
});

Deno.test("every decoder throws PeerRefusedError on an error frame", async (t) => {
  const cases: { name: string; bytes: Uint8Array; message: string }[] = [
    { name: "encodeError()", bytes: encodeError("busy"), message: "peer refused: busy" },
    { name: "an empty reason", bytes: encodeError(""), message: "peer refused: " },
    {
      name: "an error beside otherwise valid fields",
      bytes: frame({ ...VALID_REQUEST, ...VALID_KEYS, ...VALID_EVENTS, want: [], error: "rate limited" }),
      message: "peer refused: rate limited",
    },
    {
      name: "a long reason, cut short",
      bytes: encodeError("x".repeat(10_000)),
      message: `peer refused: ${"x".repeat(200)}`,
    },
  ];
  for (const c of cases) {
    for (const { name, decode } of DECODERS) {
      await t.step(`${name}(): ${c.name}`, () => {
        assert.throws(() => decode(c.bytes), (error: unknown) => {
          assert.ok(error instanceof PeerRefusedError, `expected a PeerRefusedError, got ${error}`);
          assert.ok(!(error instanceof ProtocolError), "a refusal is not misbehaviour");
          assert.equal(error.name, "PeerRefusedError");
          assert.equal(error.message, c.message);
          return true;
        });
      });
    }
  }
});

Deno.test("every decoder treats an error that is not a string as a malformed frame", async (t) => {
  for (const error of [5, null, { reason: "busy" }, ["busy"], true]) {
    for (const { name, decode } of DECODERS) {
      await t.step(
        `${name}(): error ${JSON.stringify(error)}`,
        () => assertProtocolError(() => decode(frame({ error }))),
      );
    }
  }
});

Deno.test("recordFrameBytes() is at least what a record adds to an events frame", async (t) => {
  const key = await generateKeyPair("Ed25519");
  for (const size of [0, 1, 2, 3, 100, 16 * 1024, 100_000]) {
    await t.step(`${size} bytes of data`, async () => {
      const signed = await signRecord(key, "t".repeat(64), new Uint8Array(size).fill(0x41));
      const one = encodeEvents({ events: [signed], last: false }).length;
      const two = encodeEvents({ events: [signed, signed], last: false }).length;
      assert.ok(recordFrameBytes(signed) >= two - one, `estimate ${recordFrameBytes(signed)}, actual ${two - one}`);
    });
  }
});

// An agent may set max_event_bytes up to 1 MiB, and base64 makes such an event about 1.33 MiB on
// the wire; a frame limit below that would cut off an honest peer at that event for good.
Deno.test("encodeEvents() fits one event of the largest allowed size in MAX_FRAME_BYTES", async () => {
  const key = await generateKeyPair("Ed25519");
  const largest = await signRecord(key, "default", new Uint8Array(MAX_EVENT_BYTES_CEILING).fill(0x41));
  const bytes = encodeEvents({ events: [largest], last: true }).length;
  assert.ok(bytes <= MAX_FRAME_BYTES, `a frame of ${bytes} bytes; the limit is ${MAX_FRAME_BYTES}`);
});
