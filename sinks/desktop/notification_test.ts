import assert from "node:assert/strict";
import { textForProgram } from "./notification.ts";

Deno.test("textForProgram: one line or several, no controls, capped without splitting a character", () => {
  assert.equal(textForProgram("a\r\nb\tc\u0000", 100, false), "a b c\uFFFD");
  assert.equal(textForProgram("a\r\nb\u2028c", 100, true), "a\nb\nc");
  assert.equal(textForProgram("lone \ud800 surrogate", 100, false), "lone \uFFFD surrogate");
  assert.equal(textForProgram("abcdef", 4, false), "abc…");
  // The fourth unit would be the first half of 😀: the cut goes before it.
  assert.equal(textForProgram("abc😀def", 5, false), "abc…");
  assert.equal(textForProgram("abcd", 4, false), "abcd");
});
