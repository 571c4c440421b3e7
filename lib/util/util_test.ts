/** The shared policies: each has one home, so each is pinned here once. */

import assert from "node:assert/strict";
import {
  cleanForTerminal,
  cleanTerminalLine,
  hasAsciiControl,
  jsonForTerminal,
  stripControls,
  stripControlsKeepingLines,
} from "./controls.ts";
import { delay } from "./delay.ts";
import { fnv1a, fnv1a64 } from "./fnv.ts";
import { octalMode, openToOthers } from "./owner_only.ts";

const encoder = new TextEncoder();

Deno.test("FNV-1a matches the published test vectors, 32 and 64 bits", () => {
  assert.equal(fnv1a(encoder.encode("")), 0x811c9dc5);
  assert.equal(fnv1a(encoder.encode("a")), 0xe40c292c);
  assert.equal(fnv1a(encoder.encode("foobar")), 0xbf9cf968);
  assert.equal(fnv1a64(encoder.encode("")), 0xcbf29ce484222325n);
  assert.equal(fnv1a64(encoder.encode("a")), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv1a64(encoder.encode("foobar")), 0x85944171f73967e8n);
});

Deno.test("stripControls keeps one line one line and marks what it took out", () => {
  assert.equal(stripControls("a\nb\tc\rd"), "a b c d");
  assert.equal(stripControls("\x1b]0;owned\x07x"), "\uFFFD]0;owned\uFFFDx");
  assert.equal(stripControls("\u202eevil\u2028"), "\uFFFDevil\uFFFD");
  assert.equal(stripControls("bell\x07", ""), "bell");
  assert.equal(stripControls("plain ünïcode 😀"), "plain ünïcode 😀");
});

Deno.test("stripControlsKeepingLines keeps lines and tabs, and marks the rest", () => {
  assert.equal(stripControlsKeepingLines("a\r\nb\rc\u2028d\u2029e\n\tf"), "a\nb\nc\nd\ne\n\tf");
  assert.equal(stripControlsKeepingLines("\x1b[31m\u0000\u202e\uffff"), "\uFFFD[31m\uFFFD\uFFFD\uFFFD");
});

Deno.test("cleanTerminalLine drops terminal sequences, keeps tabs and replaces other controls", () => {
  assert.equal(cleanTerminalLine("\x1b[1;31mred\x1b[0m\tok", ""), "red\tok");
  assert.equal(cleanTerminalLine("\x1b]8;;https://example.test\x1b\\link\x1b]8;;\x07", ""), "link");
  assert.equal(cleanTerminalLine("a\x00b\x7fc", "?"), "a?b?c");
});

Deno.test("cleanForTerminal keeps the lines of a listing and cleans each one", () => {
  assert.equal(cleanForTerminal("HOST\nev\x1b]0;t\x07il\r\n\x9b2J"), "HOST\nev\uFFFD]0;t\uFFFDil \n\uFFFD2J");
});

Deno.test("jsonForTerminal escapes what JSON.stringify leaves raw, and parses to the same value", () => {
  const value = { host: "a\x1b[2J\x07\x7f\x9b31m\u2028\u202e", n: [1] };
  const json = jsonForTerminal(value, 2);
  assert.equal(stripControls(json.replaceAll("\n", "")), json.replaceAll("\n", ""), "nothing left to clean");
  assert.ok(json.includes("\\u009b") && json.includes("\\u007f") && json.includes("\\u2028"));
  assert.deepEqual(JSON.parse(json), value);
  assert.equal(jsonForTerminal(undefined), "null");
});

Deno.test("hasAsciiControl finds C0 controls and DEL, not other text", () => {
  assert.equal(hasAsciiControl("value\r\nInjected: yes"), true);
  assert.equal(hasAsciiControl("del\x7f"), true);
  assert.equal(hasAsciiControl("tab\t"), true);
  assert.equal(hasAsciiControl("/home/ünï/state dir"), false);
});

Deno.test("openToOthers: any group or other bit is too open; Windows modes never are", () => {
  assert.equal(openToOthers(0o600), false);
  assert.equal(openToOthers(0o700), false);
  assert.equal(openToOthers(0o640), true);
  assert.equal(openToOthers(0o604), true);
  assert.equal(openToOthers(0o100600), false, "the file type bits do not count");
  assert.equal(openToOthers(null), false);
  assert.equal(octalMode(0o100644), "644");
  assert.equal(octalMode(0o7), "007");
});

Deno.test("delay ends early when its signal aborts, and leaves no timer behind", async () => {
  // Deno's op sanitizer fails this test if either minute-long timer were still pending.
  const controller = new AbortController();
  const waiting = delay(60_000, controller.signal);
  controller.abort();
  await waiting;
  await delay(60_000, AbortSignal.abort());
  await delay(1);
});
