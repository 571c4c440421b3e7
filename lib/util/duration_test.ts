import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration() reads durations", async (t) => {
  const cases: [string, number][] = [
    ["0s", 0],
    ["500ms", 500],
    ["1ms", 1],
    ["30s", 30_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
    ["1h30m", 5_400_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["1.5h", 5_400_000],
    ["0.5s", 500],
    ["1.0005s", 1001],
    ["5m5s", 305_000],
    ["  45s  ", 45_000],
  ];
  for (const [text, ms] of cases) {
    await t.step(JSON.stringify(text), () => assert.equal(parseDuration(text), ms));
  }
});

Deno.test("parseDuration() rejects what is not a duration", async (t) => {
  const cases: string[] = [
    "",
    "   ",
    "10",
    "s",
    "ms",
    "-5s",
    "+5s",
    ".5s",
    "5",
    "1h 30m",
    "30S",
    "10 m",
    "1m30",
    "10min",
    "1w",
    "5s!",
    "x5s",
    "1e3s",
  ];
  for (const text of cases) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(
        () => parseDuration(text),
        (error) => error instanceof RangeError && error.message.startsWith(`invalid duration "${text}"`),
      );
    });
  }
});

Deno.test("parseDuration() names the expected form", () => {
  assert.throws(() => parseDuration("soon"), {
    name: "RangeError",
    message: `invalid duration "soon": use a number and a unit, e.g. 30s, 10m, 2h, 7d`,
  });
});

Deno.test("parseDuration() can be called again after an error", () => {
  assert.throws(() => parseDuration("1h x"));
  assert.equal(parseDuration("2m"), 120_000);
  assert.throws(() => parseDuration("3h?"));
  assert.equal(parseDuration("1s"), 1000);
});
