import assert from "node:assert/strict";
import { generateKeyPair, peerIdFromPrivateKey, TopicValidatorResult } from "./libp2p.ts";
import type { SignedMessage, UnsignedMessage } from "@libp2p/gossipsub";
import type { PeerId } from "@libp2p/interface";
import { createEvent, DEFAULT_LIMITS, encodeEvent, type EventDraft, type HarkEvent } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import {
  EventValidator,
  MAX_BATCH_EVENTS,
  type MessageVerdict,
  type Rejection,
  type ValidatorInit,
  type Verdict,
} from "./validator.ts";
import { encodeBatch } from "./batch.ts";

const encoder = new TextEncoder();
const nextId = monotonicUlid();
let sequenceNumber = 0n;

interface Peer {
  id: PeerId;
  name: string;
  key: SignedMessage["key"];
}

async function newPeer(): Promise<Peer> {
  const privateKey = await generateKeyPair("Ed25519");
  const id = peerIdFromPrivateKey(privateKey);
  return { id, name: id.toString(), key: privateKey.publicKey };
}

/** A message as gossipsub hands it to a topic validator; the signature is not checked there. */
function signed(from: Peer, data: Uint8Array, topic = "hark/default"): SignedMessage {
  sequenceNumber++;
  return { type: "signed", from: from.id, topic, data, sequenceNumber, signature: new Uint8Array(), key: from.key };
}

/** An event by `publisher` and its wire bytes. */
function event(
  publisher: Peer,
  draft: EventDraft = { body: "hello" },
  id: string = nextId(),
): { event: HarkEvent; bytes: Uint8Array } {
  const made = createEvent(draft, { id, now: Date.now(), host: "ci-01", peer: publisher.name });
  return { event: made, bytes: encodeEvent(made) };
}

function validator(init: Partial<ValidatorInit> = {}): EventValidator {
  return new EventValidator({
    limits: DEFAULT_LIMITS,
    publishers: new Map(),
    rate: { rate: 1000, burst: 1000 },
    ...init,
  });
}

/** Asserts an Accept verdict of one event and returns it. */
function accepted(verdict: Verdict | MessageVerdict): HarkEvent {
  if (verdict.result !== TopicValidatorResult.Accept) {
    assert.fail(`expected accept, got ${verdict.result} (${verdict.reason})`);
  }
  if ("event" in verdict) return verdict.event;
  assert.equal(verdict.events.length, 1);
  return verdict.events[0].event;
}

function assertVerdict(
  verdict: Verdict | MessageVerdict,
  result: TopicValidatorResult.Reject | TopicValidatorResult.Ignore,
  reason: Rejection | "duplicate",
): void {
  assert.deepEqual({ result: verdict.result, reason: "reason" in verdict ? verdict.reason : undefined }, {
    result,
    reason,
  });
}

const alice = await newPeer();
const bob = await newPeer();
const relay = await newPeer();

Deno.test("EventValidator.validate() accepts a valid event with the signer as source.peer", () => {
  const v = validator();
  const sent = event(alice, { topic: "default", title: "Build #812 failed", body: "timed out", tags: ["ci"] });
  const received = accepted(v.validate(alice.name, signed(alice, sent.bytes)));
  assert.deepEqual(received, sent.event);
  assert.equal(received.source.peer, alice.name);
  assert.equal(v.counters.accepted, 1);
});

Deno.test("EventValidator.validate() accepts a relayed event with the signer, not the relay, as source.peer", () => {
  const v = validator();
  const sent = event(alice);
  const received = accepted(v.validate(relay.name, signed(alice, sent.bytes)));
  assert.equal(received.source.peer, alice.name);
});

Deno.test("EventValidator.validate() rejects unsigned messages", () => {
  const v = validator();
  const message: UnsignedMessage = { type: "unsigned", topic: "hark/default", data: event(alice).bytes };
  assertVerdict(v.validate(alice.name, message), TopicValidatorResult.Reject, "malformed");
  assert.equal(v.counters.malformed, 1);
  assert.equal(v.counters.accepted, 0);
  assert.deepEqual(v.lastRejection, { peer: "?", reason: "unsigned message" });
});

Deno.test("EventValidator.validate() rejects payloads that are not a valid event as malformed", async (t) => {
  const valid = event(alice).event;
  const { peer: _peer, ...source } = valid.source;
  const json = (value: unknown) => encoder.encode(JSON.stringify(value));
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["garbage bytes", new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01])],
    ["invalid JSON", encoder.encode('{"id": "01J')],
    ["invalid UTF-8", new Uint8Array([...encoder.encode('{"title":"'), 0xff, 0xfe, ...encoder.encode('"}')])],
    ["JSON that is not an object", json(["not", "an", "event"])],
    ["JSON null", encoder.encode("null")],
    ["a bad field", json({ ...valid, priority: 9, source })],
    ["an unknown field", json({ ...valid, extra: true, source })],
    ["an id that is not a ULID", json({ ...valid, id: "1", source })],
    ["a claimed source.peer", json({ ...valid, source: { ...source, peer: bob.name } })],
    ["the signer claimed as source.peer", json(valid)],
  ];
  for (const [what, data] of cases) {
    await t.step(what, () => {
      const v = validator();
      assertVerdict(v.validate(alice.name, signed(alice, data)), TopicValidatorResult.Reject, "malformed");
      assert.equal(v.counters.malformed, 1);
      assert.equal(v.counters.accepted, 0);
      assert.equal(v.lastRejection?.peer, alice.name);
    });
  }
});

Deno.test("EventValidator.validate() rejects events over the size limit as malformed", () => {
  const v = validator({ limits: { maxEventBytes: 1024 } });
  const big = event(alice, { body: "x".repeat(2000) });
  assertVerdict(v.validate(alice.name, signed(alice, big.bytes)), TopicValidatorResult.Reject, "malformed");
  assert.match(v.lastRejection!.reason, /over the limit of 1024/);
  // Another agent may allow bigger events: a relay is not blamed for passing one on.
  assertVerdict(v.validate(relay.name, signed(alice, big.bytes)), TopicValidatorResult.Ignore, "malformed");
  accepted(v.validate(alice.name, signed(alice, event(alice, { body: "x".repeat(500) }).bytes)));
});

Deno.test("EventValidator.validate() rejects an event sent on another topic than its own", () => {
  const v = validator();
  const sent = event(alice, { topic: "builds", body: "hello" });
  assertVerdict(
    v.validate(alice.name, signed(alice, sent.bytes, "hark/default")),
    TopicValidatorResult.Reject,
    "malformed",
  );
  assertVerdict(v.validate(alice.name, signed(alice, sent.bytes, "builds")), TopicValidatorResult.Reject, "malformed");
  assert.equal(v.counters.malformed, 2);
  assert.match(v.lastRejection!.reason, /"builds"/);
  accepted(v.validate(alice.name, signed(alice, sent.bytes, "hark/builds")));
});

Deno.test("EventValidator.validate() enforces topic publishers", async (t) => {
  const v = validator({ publishers: new Map([["builds", new Set([alice.name])]]) });
  await t.step("an unlisted signer is rejected", () => {
    const sent = event(bob, { topic: "builds", body: "forged" });
    assertVerdict(
      v.validate(bob.name, signed(bob, sent.bytes, "hark/builds")),
      TopicValidatorResult.Reject,
      "unauthorized",
    );
    assert.equal(v.counters.unauthorized, 1);
    assert.equal(v.lastRejection?.peer, bob.name);
    assert.match(v.lastRejection!.reason, /not an allowed publisher of "builds"/);
  });
  await t.step("a relay of an unlisted signer is ignored, not blamed", () => {
    const sent = event(bob, { topic: "builds", body: "forged" });
    assertVerdict(
      v.validate(relay.name, signed(bob, sent.bytes, "hark/builds")),
      TopicValidatorResult.Ignore,
      "unauthorized",
    );
    assert.equal(v.counters.unauthorized, 2);
    assert.equal(v.lastRejection?.peer, bob.name, "the signer is named, not the relay");
  });
  await t.step("a listed signer is accepted, also when relayed", () => {
    accepted(v.validate(alice.name, signed(alice, event(alice, { topic: "builds", body: "ok" }).bytes, "hark/builds")));
    accepted(v.validate(relay.name, signed(alice, event(alice, { topic: "builds", body: "ok" }).bytes, "hark/builds")));
  });
  await t.step("unrestricted topics are open to every peer", () => {
    accepted(v.validate(bob.name, signed(bob, event(bob).bytes)));
  });
  assert.deepEqual(v.counters, {
    accepted: 3,
    duplicates: 0,
    malformed: 0,
    unauthorized: 2,
    throttled: 0,
    conflicting: 0,
    off_schema: 0,
    disputed: 0,
    membership_received: 0,
  });
});

Deno.test("EventValidator.mayPublish() follows the publishers of a topic", async (t) => {
  const v = validator({
    publishers: new Map([
      ["builds", new Set([alice.name])],
      ["locked", new Set<string>()],
    ]),
  });
  const cases: [string, string, string, boolean][] = [
    ["listed peer", alice.name, "builds", true],
    ["unlisted peer", bob.name, "builds", false],
    ["topic without publishers", bob.name, "default", true],
    ["topic with an empty list", alice.name, "locked", false],
  ];
  for (const [what, peer, topic, expected] of cases) {
    await t.step(what, () => assert.equal(v.mayPublish(peer, topic), expected));
  }
});

Deno.test("EventValidator.validate() ignores a duplicate of an accepted event", () => {
  const v = validator();
  const sent = event(alice);
  accepted(v.validate(alice.name, signed(alice, sent.bytes)));
  assertVerdict(v.validate(alice.name, signed(alice, sent.bytes)), TopicValidatorResult.Ignore, "duplicate");
  assertVerdict(v.validate(relay.name, signed(alice, sent.bytes)), TopicValidatorResult.Ignore, "duplicate");
  assert.equal(v.counters.duplicates, 2);
  assert.equal(v.counters.accepted, 1);
  assert.equal(v.lastRejection, undefined, "a duplicate is not a rejection");
});

Deno.test("EventValidator.validate() rejects a different event with a seen id from the same signer", () => {
  const v = validator();
  const id = nextId();
  accepted(v.validate(alice.name, signed(alice, event(alice, { body: "first" }, id).bytes)));
  const forged = event(alice, { body: "second" }, id);
  assertVerdict(v.validate(alice.name, signed(alice, forged.bytes)), TopicValidatorResult.Reject, "conflicting");
  assert.equal(v.counters.conflicting, 1);
  assert.equal(v.counters.duplicates, 0);
  assert.match(v.lastRejection!.reason, new RegExp(id));
});

Deno.test("EventValidator.validate() keeps ids apart per signer", () => {
  const v = validator();
  const id = nextId();
  const fromAlice = event(alice, { body: "same id" }, id);
  const fromBob = event(bob, { body: "same id" }, id);
  assert.equal(accepted(v.validate(alice.name, signed(alice, fromAlice.bytes))).source.peer, alice.name);
  assert.equal(accepted(v.validate(bob.name, signed(bob, fromBob.bytes))).source.peer, bob.name);
  assert.equal(v.counters.accepted, 2);
  assert.equal(v.counters.duplicates, 0);
  assert.equal(v.counters.conflicting, 0);
});

Deno.test("EventValidator.validate() throttles a publisher over its rate limit", async (t) => {
  // 1 per second: the test runs far faster than a token refills. Receivers
  // allow the burst of 3 and two seconds of the rate for jitter: 5 at once.
  const v = validator({ rate: { rate: 1, burst: 3 } });
  const burst = [event(alice), event(alice), event(alice), event(alice), event(alice)];
  await t.step("the burst is accepted", () => {
    for (const sent of burst) accepted(v.validate(alice.name, signed(alice, sent.bytes)));
  });
  await t.step("the next event from the signer is rejected", () => {
    assertVerdict(v.validate(alice.name, signed(alice, event(alice).bytes)), TopicValidatorResult.Reject, "throttled");
    assert.equal(v.lastRejection?.peer, alice.name);
  });
  await t.step("the next event relayed by another peer is ignored", () => {
    assertVerdict(v.validate(relay.name, signed(alice, event(alice).bytes)), TopicValidatorResult.Ignore, "throttled");
  });
  await t.step("duplicates take no token", () => {
    assertVerdict(v.validate(relay.name, signed(alice, burst[0].bytes)), TopicValidatorResult.Ignore, "duplicate");
  });
  await t.step("other signers are unaffected", () => {
    for (let i = 0; i < 5; i++) accepted(v.validate(bob.name, signed(bob, event(bob).bytes)));
    accepted(v.validate(relay.name, signed(relay, event(relay).bytes)));
  });
  assert.deepEqual(v.counters, {
    accepted: 11,
    duplicates: 1,
    malformed: 0,
    unauthorized: 0,
    throttled: 2,
    conflicting: 0,
    off_schema: 0,
    disputed: 0,
    membership_received: 0,
  });
});

Deno.test("EventValidator.remember() makes the echo of an own event a duplicate", () => {
  const v = validator();
  const own = event(alice);
  v.remember(own.event, own.bytes);
  assertVerdict(v.validate(relay.name, signed(alice, own.bytes)), TopicValidatorResult.Ignore, "duplicate");
  assert.equal(v.counters.duplicates, 1);
  assert.equal(v.counters.accepted, 0);
  const other = event(alice, { body: "other" }, own.event.id);
  // The relay cannot know which version came first: only the author is blamed.
  assertVerdict(v.validate(relay.name, signed(alice, other.bytes)), TopicValidatorResult.Ignore, "conflicting");
  assertVerdict(v.validate(alice.name, signed(alice, other.bytes)), TopicValidatorResult.Reject, "conflicting");
});

Deno.test("EventValidator.validate() forgets the oldest ids beyond seenCapacity", () => {
  const v = validator({ seenCapacity: 2 });
  const [first, second, third] = [event(alice), event(alice), event(alice)];
  for (const sent of [first, second, third]) accepted(v.validate(alice.name, signed(alice, sent.bytes)));
  assertVerdict(v.validate(alice.name, signed(alice, third.bytes)), TopicValidatorResult.Ignore, "duplicate");
  assertVerdict(v.validate(alice.name, signed(alice, second.bytes)), TopicValidatorResult.Ignore, "duplicate");
  accepted(v.validate(alice.name, signed(alice, first.bytes)));
  assert.equal(v.counters.accepted, 4);
  assert.equal(v.counters.duplicates, 2);
});

Deno.test("EventValidator.takeToken() keeps this agent within the limit its receivers enforce", async (t) => {
  const v = validator({ rate: { rate: 1, burst: 2 } });
  await t.step("a full bucket has no delay", () => {
    assert.equal(v.throttleDelay(alice.name), 0);
  });
  await t.step("takeToken() empties the bucket", () => {
    assert.equal(v.takeToken(alice.name), true);
    assert.equal(v.takeToken(alice.name), true);
    assert.equal(v.takeToken(alice.name), false);
  });
  await t.step("throttleDelay() is up to one token's time", () => {
    const delay = v.throttleDelay(alice.name);
    assert.ok(delay > 0 && delay <= 1000, `delay ${delay}`);
  });
  await t.step("a receiver accepts all a publisher at its limit sent, and two seconds of its rate more", () => {
    const receiver = validator({ rate: { rate: 1, burst: 2 } });
    for (let i = 0; i < 4; i++) accepted(receiver.validate(alice.name, signed(alice, event(alice).bytes)));
    assertVerdict(
      receiver.validate(alice.name, signed(alice, event(alice).bytes)),
      TopicValidatorResult.Reject,
      "throttled",
    );
  });
  await t.step("other peers keep their own bucket", () => {
    assert.equal(v.throttleDelay(bob.name), 0);
    assert.equal(v.takeToken(bob.name), true);
  });
});

/** A batch of these events' bytes, each with a made-up signed-record seqno and signature. */
function batch(...bytes: Uint8Array[]): Uint8Array {
  return encodeBatch(
    bytes.map((data, i) => ({ data, seqno: new Uint8Array(8).fill(i), signature: new Uint8Array(64) })),
  );
}

Deno.test("EventValidator.validate() takes a batch whole, or not at all", async (t) => {
  await t.step("every event of a valid batch, with its own bytes and signature", () => {
    const v = validator();
    const [a, b] = [event(alice, { body: "one" }), event(alice, { body: "two" })];
    const verdict = v.validate(alice.name, signed(alice, batch(a.bytes, b.bytes)));
    assert.ok("events" in verdict);
    assert.deepEqual(verdict.events.map((e) => e.event), [a.event, b.event]);
    assert.deepEqual(verdict.events.map((e) => e.data), [a.bytes, b.bytes]);
    assert.deepEqual(verdict.events[1].signed?.seqno, new Uint8Array(8).fill(1));
    assert.equal(v.counters.accepted, 2);
  });
  await t.step("events seen before are left out; nothing new is a duplicate", () => {
    const v = validator();
    const [a, b] = [event(alice), event(alice)];
    accepted(v.validate(alice.name, signed(alice, a.bytes)));
    const verdict = v.validate(relay.name, signed(alice, batch(a.bytes, b.bytes)));
    assert.ok("events" in verdict);
    assert.deepEqual(verdict.events.map((e) => e.event.id), [b.event.id]);
    assertVerdict(
      v.validate(relay.name, signed(alice, batch(a.bytes, b.bytes))),
      TopicValidatorResult.Ignore,
      "duplicate",
    );
  });
  await t.step("one malformed event rejects the batch and leaves the others unseen", () => {
    const v = validator();
    const good = event(alice);
    assertVerdict(
      v.validate(alice.name, signed(alice, batch(good.bytes, encoder.encode("{}")))),
      TopicValidatorResult.Reject,
      "malformed",
    );
    assert.equal(accepted(v.validate(alice.name, signed(alice, good.bytes))).id, good.event.id);
  });
  await t.step("an event claiming another publisher's id space is the signer's: source.peer is the signer", () => {
    const v = validator();
    const forged = event(bob);
    const verdict = v.validate(alice.name, signed(alice, batch(forged.bytes)));
    assert.ok("events" in verdict);
    assert.equal(verdict.events[0].event.source.peer, alice.name);
  });
  await t.step("the same id twice in one batch is conflicting", () => {
    const v = validator();
    const id = nextId();
    const [a, b] = [event(alice, { body: "a" }, id), event(alice, { body: "b" }, id)];
    assertVerdict(
      v.validate(alice.name, signed(alice, batch(a.bytes, b.bytes))),
      TopicValidatorResult.Reject,
      "conflicting",
    );
  });
  await t.step("an event on another topic rejects the batch", () => {
    const v = validator();
    const other = event(alice, { topic: "builds", body: "x" });
    assertVerdict(v.validate(alice.name, signed(alice, batch(other.bytes))), TopicValidatorResult.Reject, "malformed");
  });
  await t.step("cut off, empty or oversized batches are malformed", () => {
    const v = validator();
    const whole = batch(event(alice).bytes);
    for (const bytes of [whole.subarray(0, whole.length - 1), Uint8Array.of(1), Uint8Array.of(1, 0)]) {
      assertVerdict(v.validate(alice.name, signed(alice, bytes)), TopicValidatorResult.Reject, "malformed");
    }
    const many = Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => event(alice).bytes);
    assertVerdict(v.validate(alice.name, signed(alice, batch(...many))), TopicValidatorResult.Reject, "malformed");
  });
  await t.step("a batch over the signer's rate limit is throttled whole", () => {
    // A receiver allows 2 + 2 (two seconds of the rate) at once.
    const v = validator({ rate: { rate: 1, burst: 2 } });
    const events = Array.from({ length: 5 }, () => event(alice).bytes);
    assertVerdict(v.validate(alice.name, signed(alice, batch(...events))), TopicValidatorResult.Reject, "throttled");
    const verdict = v.validate(alice.name, signed(alice, batch(...events.slice(0, 4))));
    assert.ok("events" in verdict);
    assert.equal(verdict.events.length, 4);
  });
});

Deno.test("EventValidator.validate() applies the content check and counts membership apart", () => {
  const v = validator({
    check: (event) => event.data === "bad" ? { reason: "off_schema", detail: "data is bad" } : undefined,
  });
  const refused = event(bob, { body: "x", data: "bad" });
  // Dropped without a penalty: the publisher's agent may not have this schema.
  assertVerdict(v.validate(bob.name, signed(bob, refused.bytes)), TopicValidatorResult.Ignore, "off_schema");
  assert.equal(v.lastRejection?.reason, "data is bad");
  accepted(v.validate(bob.name, signed(bob, event(bob, { body: "x", data: "good" }).bytes)));
  const join = event(bob, { topic: "hark.node.join", body: "x", data: { peer: bob.name } });
  accepted(v.validate(bob.name, signed(bob, join.bytes, "hark/hark.node.join")));
  assert.equal(v.counters.off_schema, 1);
  assert.equal(v.counters.accepted, 1);
  assert.equal(v.counters.membership_received, 1);
});

Deno.test("EventValidator.validateRecord() keeps history to the rate limit by publish time", async (t) => {
  // Receivers allow 2 + 2 (jitter) + 20 s × 1/s = 24 events within 10 s either side of an event.
  const stored: number[] = [];
  const v = validator({
    rate: { rate: 1, burst: 2 },
    storedNear: (publisher, from, to) =>
      publisher === alice.name ? stored.filter((time) => time >= from && time <= to).length : 0,
  });
  const record = (publisher: Peer, now: number) => {
    const made = createEvent({ body: "from history" }, { id: nextId(), now, host: "ci-01", peer: publisher.name });
    return {
      publisher: publisher.name,
      topic: "default",
      data: encodeEvent(made),
      seqno: new Uint8Array(8),
      signature: new Uint8Array(64),
    };
  };
  const t0 = Date.now() - 3_600_000;
  await t.step("a backlog published within the limit is taken whole, however fast it arrives", () => {
    // One an hour ago every second for two minutes: 120 events at the rate exactly.
    for (let i = 0; i < 120; i++) {
      accepted(v.validateRecord(record(alice, t0 + i * 1000)));
      stored.push(t0 + i * 1000);
    }
  });
  await t.step("a flood's excess is refused, whenever it comes", () => {
    const flood = t0 + 600_000;
    for (let i = 0; i < 24; i++) {
      accepted(v.validateRecord(record(alice, flood + i)));
      stored.push(flood + i);
    }
    assertVerdict(v.validateRecord(record(alice, flood + 30)), TopicValidatorResult.Ignore, "throttled");
    assertVerdict(v.validateRecord(record(alice, flood - 9_000)), TopicValidatorResult.Ignore, "throttled");
    accepted(v.validateRecord(record(alice, flood + 10_100)));
  });
  await t.step("historyRoom() counts the keys about to be fetched", () => {
    const later = t0 + 1_200_000;
    assert.equal(v.historyRoom(alice.name, later, Array(23).fill(later)), true);
    assert.equal(v.historyRoom(alice.name, later, Array(24).fill(later)), false);
  });
  await t.step("other publishers have their own room", () => {
    accepted(v.validateRecord(record(bob, t0 + 600_000)));
  });
});
