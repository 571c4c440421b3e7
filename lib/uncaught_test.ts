import assert from "node:assert/strict";
import { describeReason } from "./uncaught.ts";

Deno.test("describeReason() shows an Error's stack and anything else's type and value", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["an Error, by its stack", new RangeError("too far"), /^RangeError: too far\n\s+at /],
    ["an Error's cause", new Error("outer", { cause: new Error("inner") }), /; caused by Error: inner\n\s+at /],
    ["null", null, /^null \(not an Error, so it carries no stack\)$/],
    ["undefined", undefined, /^undefined \(not an Error/],
    ["a string, with its type", "gone", /^string "gone" \(not an Error/],
    ["an object, with its fields", { code: 7 }, /^object \{ code: 7 \} \(not an Error/],
  ];
  for (const [name, reason, expected] of cases) {
    await t.step(name, () => assert.match(describeReason(reason), expected));
  }
});
