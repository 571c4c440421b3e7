import assert from "node:assert/strict";
import { monotonicUlid, ULID_PATTERN, ulidTime } from "./ulid.ts";

const T0 = Date.UTC(2026, 10, 21, 23, 59, 59, 123);
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The 80 random bits of a ULID as a number. */
function randomPart(id: string): bigint {
  let value = 0n;
  for (const char of id.slice(10)) value = value * 32n + BigInt(ALPHABET.indexOf(char));
  return value;
}

/** A clock the test moves by hand. */
function fakeClock(start: number): { now: () => number; set: (ms: number) => void } {
  let ms = start;
  return { now: () => ms, set: (value) => (ms = value) };
}

Deno.test("monotonicUlid() makes canonical ULIDs", () => {
  const next = monotonicUlid();
  for (let i = 0; i < 100; i++) {
    const id = next();
    assert.equal(id.length, 26);
    assert.match(id, ULID_PATTERN);
  }
});

Deno.test("monotonicUlid() increases strictly within one millisecond", () => {
  const clock = fakeClock(T0);
  const next = monotonicUlid(clock.now);
  const ids = Array.from({ length: 1000 }, () => next());
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(ids[i].slice(0, 10), ids[0].slice(0, 10), "same time part");
  }
  assert.equal(new Set(ids).size, ids.length);
});

Deno.test("monotonicUlid() adds one to the random part within one millisecond", () => {
  const next = monotonicUlid(() => T0);
  let previous = randomPart(next());
  for (let i = 0; i < 100; i++) {
    const current = randomPart(next());
    assert.equal(current, previous + 1n);
    previous = current;
  }
});

Deno.test("monotonicUlid() sorts by time across milliseconds", async (t) => {
  const clock = fakeClock(T0);
  const next = monotonicUlid(clock.now);
  const cases: { name: string; ms: number }[] = [
    { name: "same millisecond", ms: T0 },
    { name: "one millisecond later", ms: T0 + 1 },
    { name: "one day later", ms: T0 + 86_400_000 },
  ];
  let previous = next();
  for (const { name, ms } of cases) {
    await t.step(name, () => {
      clock.set(ms);
      const id = next();
      assert.ok(previous < id, `${previous} < ${id}`);
      assert.equal(ulidTime(id), ms);
      previous = id;
    });
  }
});

Deno.test("monotonicUlid() stays monotonic when the clock goes back", () => {
  const clock = fakeClock(T0);
  const next = monotonicUlid(clock.now);
  const first = next();
  clock.set(T0 - 5000);
  const second = next();
  assert.ok(first < second, `${first} < ${second}`);
  assert.equal(ulidTime(second), T0, "keeps the latest time seen");
  clock.set(T0 + 1);
  const third = next();
  assert.ok(second < third);
  assert.equal(ulidTime(third), T0 + 1);
});

Deno.test("monotonicUlid() generators are independent", () => {
  const a = monotonicUlid(() => T0);
  const b = monotonicUlid(() => T0);
  const ids = new Set([a(), a(), b(), b()]);
  assert.equal(ids.size, 4);
});

Deno.test("ulidTime() returns the time a ULID was made at", async (t) => {
  const cases: { name: string; ms: number }[] = [
    { name: "epoch", ms: 0 },
    { name: "2026", ms: T0 },
    { name: "largest time", ms: 2 ** 48 - 1 },
  ];
  for (const { name, ms } of cases) {
    await t.step(name, () => {
      const id = monotonicUlid(() => ms)();
      assert.match(id, ULID_PATTERN);
      assert.equal(ulidTime(id), ms);
    });
  }
  await t.step("known ULID", () => {
    // The ULID spec's example; its time part 01ARZ3NDEK is 2016-07-30T23:54:10.259Z.
    assert.equal(ulidTime("01ARZ3NDEKTSV4RRFFQ69G5FAV"), Date.UTC(2016, 6, 30, 23, 54, 10, 259));
  });
});

Deno.test("ULID_PATTERN accepts only canonical ULIDs", async (t) => {
  const cases: [string, boolean][] = [
    ["01ARZ3NDEKTSV4RRFFQ69G5FAV", true],
    ["7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true],
    ["8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false],
    ["01arz3ndektsv4rrffq69g5fav", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FA", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FAVX", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FAI", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FAL", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FAO", false],
    ["01ARZ3NDEKTSV4RRFFQ69G5FAU", false],
    ["", false],
  ];
  for (const [id, ok] of cases) {
    await t.step(JSON.stringify(id), () => assert.equal(ULID_PATTERN.test(id), ok));
  }
});
