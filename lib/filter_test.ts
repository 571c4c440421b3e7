import assert from "node:assert/strict";
import type { HarkEvent } from "./event/event.ts";
import {
  compileFilter,
  compileTopicPattern,
  FILTER_MAX_CHARS,
  FILTER_MAX_DEPTH,
  FilterError,
  globMatches,
} from "./filter.ts";
import { ConfigError } from "./errors.ts";

const BUILD: HarkEvent = {
  id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K",
  topic: "builds",
  title: "Build #812 failed",
  body: "test_login timed out",
  priority: 4,
  tags: ["ci", "failed", "deploy"],
  time: "2026-11-21T23:59:59.123Z",
  click: "https://ci.example.org/812",
  source: { host: "ci-01", peer: "12D3KooWabc", user: "ci" },
  data: { build: { number: 812, branch: "main", ok: false }, env: "prod", count: "10", list: ["a", 2], empty: "" },
};

/** The same event without the optional fields. */
const BARE: HarkEvent = {
  id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6M",
  topic: "default",
  title: "",
  body: "hello",
  priority: 3,
  tags: [],
  time: "2026-11-21T10:00:00.000Z",
  source: { host: "laptop", peer: "12D3KooWxyz" },
};

const ISSUE_EXAMPLE = 'priority >= 4 and tags contains "deploy" and source.host matches "ci-*"';

const CASES: [expression: string, event: HarkEvent, expected: boolean][] = [
  // The example from issue #6.
  [ISSUE_EXAMPLE, BUILD, true],
  [ISSUE_EXAMPLE, { ...BUILD, priority: 3 }, false],
  [ISSUE_EXAMPLE, { ...BUILD, source: { ...BUILD.source, host: "web-01" } }, false],
  [ISSUE_EXAMPLE, BARE, false],
  // A host name that is not its signer's (lib/mesh/host_names.ts) matches nothing, not even its own claim.
  ...["ci-*", "ci-01", "*"].map((glob): [string, HarkEvent, boolean] => [
    `source.host matches "${glob}"`,
    { ...BUILD, source: { ...BUILD.source, host: "ci-01?", host_verified: false } },
    false,
  ]),
  ['source.host == "ci-01?"', { ...BUILD, source: { ...BUILD.source, host: "ci-01?", host_verified: false } }, false],
  ['source.host != "ci-01"', { ...BUILD, source: { ...BUILD.source, host: "ci-01?", host_verified: false } }, false],
  // Comparisons.
  ["priority == 4", BUILD, true],
  ["priority != 4", BUILD, false],
  ["priority < 5", BUILD, true],
  ["priority <= 3", BUILD, false],
  ["priority > 3.5", BUILD, true],
  ["priority >= -1", BUILD, true],
  ['topic == "builds"', BUILD, true],
  ["topic == 'builds'", BUILD, true],
  ['title != "Build #812 failed"', BUILD, false],
  ['time >= "2026-11-21T12:00:00.000Z"', BUILD, true],
  ['time >= "2026-11-21T12:00:00.000Z"', BARE, false],
  ['"a" < "b"', BUILD, true],
  // Numbers and strings never equal or order each other.
  ['priority == "4"', BUILD, false],
  ['priority != "4"', BUILD, false],
  ["data.count > 2", BUILD, false],
  ['data.count == "10"', BUILD, true],
  ["data.build.number == 812", BUILD, true],
  ['data.build.number == "812"', BUILD, false],
  ["data.build.ok == false", BUILD, true],
  ["data.build.ok < true", BUILD, false],
  // Boolean logic, precedence and parentheses.
  ['priority == 4 or priority == 5 and topic == "none"', BUILD, true],
  ['(priority == 4 or priority == 5) and topic == "none"', BUILD, false],
  ['not topic == "builds"', BUILD, false],
  ['not not topic == "builds"', BUILD, true],
  ['not (priority < 4 or tags contains "ci")', BUILD, false],
  ['((priority >= 4) and ((tags contains "ci") or (tags contains "x")))', BUILD, true],
  ['(((topic == "builds")))', BUILD, true],
  ["true", BARE, true],
  ["false or not false", BARE, true],
  // contains: list membership and substrings.
  ['tags contains "failed"', BUILD, true],
  ['tags contains "fail"', BUILD, false],
  ['title contains "#812"', BUILD, true],
  ['body contains "TIMED"', BUILD, false],
  ["data.list contains 2", BUILD, true],
  ['data.list contains "2"', BUILD, false],
  ["priority contains 4", BUILD, false],
  // matches: whole-string, case-sensitive shell globs.
  ['source.host matches "ci-??"', BUILD, true],
  ['source.host matches "ci-?"', BUILD, false],
  ['source.host matches "CI-*"', BUILD, false],
  ['source.host matches "ci"', BUILD, false],
  ['title matches "*failed"', BUILD, true],
  ['title matches "*#*"', BUILD, true],
  ['title matches "Build"', BUILD, false],
  ['data.empty matches "*"', BUILD, true],
  ['data.empty matches "?"', BUILD, false],
  ['tags matches "dep*"', BUILD, true],
  ['priority matches "4"', BUILD, false],
  // Missing fields compare false, never throw.
  ['click matches "https://*"', BARE, false],
  ['source.user == "ci"', BARE, false],
  ['source.user != "ci"', BARE, false],
  ['not source.user == "ci"', BARE, true],
  ['data.env == "prod"', BARE, false],
  ['data.env != "prod"', BARE, false],
  ["data.build.number > 0", BARE, false],
  ["data.missing.deeper.still == 1", BUILD, false],
  ["data.env.length == 4", BUILD, false],
  ['data.constructor == "x"', BUILD, false],
  ['data.list.0 == "a"', BUILD, true],
  ['data.list.7 == "a"', BUILD, false],
  // Bare fields are truth tests.
  ["click", BUILD, true],
  ["click", BARE, false],
  ["data", BARE, false],
  ["data.build", BUILD, true],
  ["data.build.ok", BUILD, false],
  ["not data.empty", BUILD, true],
  ["tags", BARE, false],
  // Escapes in strings.
  ['"say \\"hi\\"" == \'say "hi"\'', BARE, true],
];

Deno.test("compileFilter() evaluates expressions over events", async (t) => {
  assert.ok(CASES.length >= 40);
  for (const [expression, event, expected] of CASES) {
    await t.step(`${expression} on ${event.topic} → ${expected}`, () => {
      assert.equal(compileFilter(expression)(event), expected);
    });
  }
});

function catchFilterError(run: () => unknown): FilterError {
  try {
    run();
  } catch (error) {
    if (error instanceof FilterError) return error;
    throw error;
  }
  throw new Error("expected a FilterError");
}

const BAD: [expression: string, position: number, fragment: string][] = [
  ["prio >= 4", 0, 'unknown field "prio"'],
  ["priority >= 4 and sorce.host == 'x'", 18, 'unknown field "sorce.host"'],
  ["source == 'x'", 0, 'unknown field "source"'],
  ["source.hostname == 'x'", 0, 'unknown field "source.hostname"'],
  ["tags.0 == 'x'", 0, 'unknown field "tags.0"'],
  ["data. == 1", 0, 'invalid field name "data."'],
  ["data..x == 1", 0, 'invalid field name "data..x"'],
  ["", 0, "expected a field or a value, found the end of the expression"],
  ["   ", 3, "expected a field or a value"],
  ["priority >=", 11, "expected a field or a value, found the end"],
  ["priority >= 4 and", 17, "expected a field or a value"],
  ["(priority >= 4", 14, 'expected ")" to close the "(" at 1:1'],
  ["priority >= 4)", 13, 'expected "and", "or" or the end of the expression, found ")"'],
  ["()", 1, 'found ")"'],
  ["priority == 4 == 4", 14, "comparisons cannot be chained"],
  ["1 < priority < 5", 13, "comparisons cannot be chained"],
  ["priority = 4", 9, 'use "==" to compare'],
  ["priority == 4 && click", 14, 'use "and" instead of "&&"'],
  ["priority == 4 || click", 14, 'use "or" instead of "||"'],
  ["!click", 0, 'use "not" instead of "!"'],
  ["priority AND click", 9, 'found "AND"'],
  ["NOT click", 0, 'write "not" in lower case'],
  ["priority # 4", 9, 'unexpected character "#"'],
  ["priority >= 4x", 12, 'invalid number "4x"'],
  ["priority >= 1.2.3", 12, 'invalid number "1.2.3"'],
  ['title == "abc', 9, "string is not closed"],
  ["title == 'a\\qb'", 11, 'unknown escape "\\q"'],
  ["title == 'a\\", 9, "string is not closed"],
  ["title matches title", 14, '"matches" needs a quoted glob pattern'],
  ["title matches 4", 14, '"matches" needs a quoted glob pattern'],
  ["priority >= 4 and 5", 18, "expected a condition, found the number 5"],
  ['"yes"', 0, 'expected a condition, found the string "yes"'],
  ["not 'x'", 4, "expected a condition"],
  ["priority == and", 12, 'found "and"'],
  ["click\n  and prio == 1", 12, "at 2:7"],
];

Deno.test("compileFilter() rejects bad expressions with their position", async (t) => {
  for (const [expression, position, fragment] of BAD) {
    await t.step(`${JSON.stringify(expression)} fails at ${position}`, () => {
      const error = catchFilterError(() => compileFilter(expression));
      assert.equal(error.position, position, error.message);
      assert.ok(error.message.includes(fragment), `${JSON.stringify(fragment)} not in:\n${error.message}`);
    });
  }
});

Deno.test("FilterError quotes the expression and marks the bad part", () => {
  const error = catchFilterError(() => compileFilter("priority >= 4 and prio == 1"));
  assert.equal(
    error.message,
    'unknown field "prio" (fields are id, topic, title, body, priority, tags, time, click, expires, ' +
      "source.host, source.peer, source.user, data.*) at 1:19\n" +
      "  priority >= 4 and prio == 1\n" +
      "                    ^^^^",
  );
  assert.equal(error.name, "FilterError");
  assert.ok(error instanceof ConfigError, "a bad filter is a config error");
  assert.equal(error.expression, "priority >= 4 and prio == 1");
  assert.deepEqual([error.line, error.column], [1, 19]);
  assert.equal(error.reason.startsWith('unknown field "prio"'), true);
});

Deno.test("FilterError shows only a window of a long line", () => {
  const expression = `${"click or ".repeat(40)}bogus`;
  const error = catchFilterError(() => compileFilter(expression));
  const [, shown, carets] = error.message.split("\n");
  assert.ok(shown.length < 80, shown);
  assert.ok(shown.startsWith("  …"));
  assert.equal(shown[carets.indexOf("^")], "b");
  assert.equal(carets.trim(), "^^^^^");
});

Deno.test("compileFilter() caps length and nesting", async (t) => {
  await t.step(`accepts exactly ${FILTER_MAX_CHARS} characters`, () => {
    const expression = "priority >= 1 or ".repeat(59).padEnd(FILTER_MAX_CHARS - 5) + "click";
    assert.equal(expression.length, FILTER_MAX_CHARS);
    assert.equal(compileFilter(expression)(BARE), true);
  });
  await t.step("rejects one character more", () => {
    const error = catchFilterError(() => compileFilter(" ".repeat(FILTER_MAX_CHARS) + "x"));
    assert.equal(error.position, FILTER_MAX_CHARS);
    assert.match(error.message, /expression is 1025 characters; the limit is 1024/);
  });
  await t.step("rejects a megabyte of parentheses by length, before parsing", () => {
    const error = catchFilterError(() => compileFilter("(".repeat(1_000_000)));
    assert.equal(error.position, FILTER_MAX_CHARS);
  });
  await t.step(`accepts ${FILTER_MAX_DEPTH} levels of parentheses`, () => {
    const expression = "(".repeat(FILTER_MAX_DEPTH) + "click" + ")".repeat(FILTER_MAX_DEPTH);
    assert.equal(compileFilter(expression)(BUILD), true);
  });
  await t.step("rejects one level more, at the parenthesis that goes too deep", () => {
    const expression = "(".repeat(FILTER_MAX_DEPTH + 1) + "click" + ")".repeat(FILTER_MAX_DEPTH + 1);
    const error = catchFilterError(() => compileFilter(expression));
    assert.equal(error.position, FILTER_MAX_DEPTH);
    assert.match(error.message, /nested more than 32 levels deep/);
  });
  await t.step("counts a chain of not as nesting", () => {
    assert.equal(compileFilter("not ".repeat(FILTER_MAX_DEPTH) + "click")(BUILD), true);
    const error = catchFilterError(() => compileFilter("not ".repeat(FILTER_MAX_DEPTH + 1) + "click"));
    assert.equal(error.position, 4 * FILTER_MAX_DEPTH);
  });
  await t.step("mixes parentheses and not in one count", () => {
    const error = catchFilterError(() => compileFilter("not (".repeat(17) + "click" + ")".repeat(17)));
    assert.match(error.message, /nested more than 32/);
  });
  await t.step("evaluates a long flat chain without deep recursion", () => {
    const expression = Array.from({ length: 50 }, (_, i) => `priority == ${i + 10}`).join(" or ");
    assert.ok(expression.length <= FILTER_MAX_CHARS);
    assert.equal(compileFilter(expression)(BUILD), false);
    assert.equal(compileFilter(`${expression} or priority == 4`)(BUILD), true);
  });
  await t.step("matches a star-heavy glob against long text in bounded time", () => {
    const filter = compileFilter(`body matches "${"*a".repeat(100)}*b"`);
    const body = "a".repeat(4096);
    const started = performance.now();
    assert.equal(filter({ ...BUILD, body }), false);
    assert.ok(performance.now() - started < 2000);
  });
});

Deno.test("compileFilter() never throws at run time, whatever the event", async (t) => {
  const hostile = new Proxy({}, {
    get() {
      throw new Error("boom");
    },
    has() {
      throw new Error("boom");
    },
    getOwnPropertyDescriptor() {
      throw new Error("boom");
    },
  });
  const withGetter = Object.defineProperty({ ...BUILD }, "priority", {
    enumerable: true,
    get() {
      throw new Error("boom");
    },
  });
  const events: unknown[] = [
    null,
    undefined,
    42,
    "event",
    [],
    {},
    { source: null, data: null, tags: "deploy" },
    { ...BUILD, tags: [{ nested: true }, null], data: [1, 2, 3] },
    { ...BUILD, priority: Number.NaN, title: 7 },
    hostile,
    withGetter,
  ];
  const filters = [
    ISSUE_EXAMPLE,
    'not (data.build.number > 1 or tags matches "x*" or title contains "B")',
    "click or data.list.0 or source.user",
    "priority != 4",
  ].map(compileFilter);
  for (const [i, event] of events.entries()) {
    await t.step(`event #${i}`, () => {
      for (const filter of filters) assert.equal(typeof filter(event as HarkEvent), "boolean");
    });
  }
});

const TOPIC_CASES: [pattern: string, topic: string, expected: boolean][] = [
  ["builds", "builds", true],
  ["builds", "builds.linux", false],
  ["builds", "build", false],
  ["builds.*", "builds.linux", true],
  ["builds.*", "builds.linux.arm", true],
  ["builds.*", "builds.", true],
  ["builds.*", "builds", false],
  ["builds.*", "commits.builds", false],
  ["*", "default", true],
  ["*", "a", true],
  ["ci-?", "ci-1", true],
  ["ci-?", "ci-12", false],
  ["ci-?", "ci-", false],
  ["*.failed", "builds.failed", true],
  ["*.failed", "builds.failed.not", false],
  ["b*s", "bs", true],
  ["b*s", "builds", true],
  ["b*s", "buildsx", false],
  ["**", "x", true],
  ["?*?", "ab", true],
  ["?*?", "a", false],
  ["a.b", "a.b", true],
  ["a.b", "axb", false],
  // Topics are case-sensitive (as ntfy's): a pattern keeps its case.
  ["Phil_*", "Phil_Alerts", true],
  ["Phil_*", "phil_alerts", false],
  ["builds", "Builds", false],
];

Deno.test("compileTopicPattern() matches topics by glob", async (t) => {
  for (const [pattern, topic, expected] of TOPIC_CASES) {
    await t.step(`${pattern} ~ ${topic} → ${expected}`, () => {
      assert.equal(compileTopicPattern(pattern)(topic), expected);
    });
  }
});

const BAD_TOPIC_PATTERNS: [pattern: string, position: number, fragment: string][] = [
  ["", 0, "topic pattern is empty"],
  ["Builds.*!", 8, 'invalid character "!" in topic pattern'],
  ["builds/*", 6, 'invalid character "/"'],
  ["builds .*", 6, 'invalid character " "'],
  ["builds.[ab]", 7, 'invalid character "["'],
  ["x".repeat(65), 64, "topic pattern is 65 characters; the limit is 64"],
];

Deno.test("compileTopicPattern() rejects bad patterns with their position", async (t) => {
  for (const [pattern, position, fragment] of BAD_TOPIC_PATTERNS) {
    await t.step(`${JSON.stringify(pattern)} fails at ${position}`, () => {
      const error = catchFilterError(() => compileTopicPattern(pattern));
      assert.equal(error.position, position);
      assert.ok(error.message.includes(fragment), error.message);
    });
  }
});

Deno.test("globMatches() treats only * and ? as special", () => {
  assert.equal(globMatches("a.c", "abc"), false);
  assert.equal(globMatches("[ab]", "a"), false);
  assert.equal(globMatches("[ab]", "[ab]"), true);
  assert.equal(globMatches("a+", "aa"), false);
  assert.equal(globMatches("*", ""), true);
  assert.equal(globMatches("", ""), true);
  assert.equal(globMatches("", "a"), false);
  assert.equal(globMatches("a*b*c", "a-b-b-c"), true);
  assert.equal(globMatches("a*b*c", "a-b-b-c-d"), false);
});
