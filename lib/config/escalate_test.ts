import assert from "node:assert/strict";
import { parseConfig, resolveConfig } from "./config.ts";
import { ConfigError } from "../errors.ts";

const DEFAULTS = { host: "test-host", stateDir: "/state/hark" };

Deno.test("[[escalate]] reads topics, after, min_priority and one action, with defaults", () => {
  const layer = parseConfig(
    `[[escalate]]
topics = ["alerts"]
after = "10m"
publish = { topic = "oncall" }

[[escalate]]
name = "page"
topics = ["db.*"]
min_priority = "high"
after = "30s"
command = ["/usr/local/bin/page", "--team", "ops"]
`,
    "hark.toml",
  );
  assert.deepEqual(resolveConfig(layer, DEFAULTS).escalate, [
    {
      name: "alerts/600000ms/publish:oncall",
      topics: ["alerts"],
      min_priority: 5,
      after: 600_000,
      publish: { topic: "oncall" },
    },
    {
      name: "page",
      topics: ["db.*"],
      min_priority: 4,
      after: 30_000,
      command: ["/usr/local/bin/page", "--team", "ops"],
    },
  ]);
  assert.deepEqual(resolveConfig({}, DEFAULTS).escalate, []);
});

Deno.test("[[escalate]] errors name the file, the line and what to write", async (t) => {
  const cases: [string, RegExp][] = [
    [
      `[[escalate]]\ntopics = ["alerts"]\npublish = { topic = "oncall" }`,
      /escalate 1 needs after, e.g. after = "10m" at line 1/,
    ],
    [
      `[[escalate]]\ntopics = ["alerts"]\nafter = "1m"`,
      /escalate 1 needs one action: publish = \{ topic = "oncall" \} or command/,
    ],
    [
      `[[escalate]]\ntopics = ["alerts"]\nafter = "1m"\ncommand = ["x"]\npublish = { topic = "oncall" }`,
      /escalate 1 has both publish and command: keep one/,
    ],
    [
      `[[escalate]]\ntopics = ["alerts"]\nafter = "0s"\npublish = { topic = "oncall" }`,
      /"escalate.after" must be more than 0s, e.g. after = "10m" at line 3/,
    ],
    // Would fail at every deadline: agents may not publish on hark.* topics.
    [
      `[[escalate]]\ntopics = ["alerts"]\nafter = "1m"\npublish = { topic = "hark.pager" }`,
      /"escalate.publish" cannot publish on "hark.pager": hark.\* topics are the agents' own; use e.g. "oncall" at line 4/,
    ],
    // Would escalate its own escalation every minute until acknowledged.
    [
      `[[escalate]]\ntopics = ["alerts"]\nafter = "1m"\npublish = { topic = "alerts" }`,
      /"escalate.publish" topic "alerts" is one the rule watches \(alerts\): each escalation would be escalated again/,
    ],
    [
      `[[escalate]]\ntopics = ["alerts.*"]\nafter = "1m"\npublish = { topic = "alerts.oncall" }`,
      /topic "alerts.oncall" is one the rule watches \(alerts.\*\)/,
    ],
    [`[[escalate]]\nafter = "1m"\ncommand = ["x"]`, /escalate 1 needs topics, e.g. topics = \["alerts"\]/],
    [
      `[[escalate]]\ntopics = ["a"]\nafter = "soon"\ncommand = ["x"]`,
      /"escalate.after" is invalid: invalid duration "soon".* at line 3/,
    ],
    [
      `[[escalate]]\ntopics = ["a"]\nafter = "1m"\npublish = { topic = "on call" }`,
      /"escalate.publish.topic" is invalid: invalid topic "on call"/,
    ],
    [`[[escalate]]\ntopics = ["a"]\nafter = "1m"\npublish = { where = "x" }`, /unknown key "escalate.publish.where"/],
    [
      `[[escalate]]\ntopics = ["a"]\nafter = "1m"\ncommand = ["x"]\nwhen = "x"`,
      /unknown key "escalate.when" at line 5/,
    ],
    [
      `[[sink]]\ntype = "desktop"\nrepeat = { every = "10ms" }`,
      /"sink.repeat" has every = "10ms"; use at least 1s at line 3/,
    ],
    [
      `[[sink]]\ntype = "desktop"\nrepeat = "5m"`,
      /"sink.repeat" must be a table such as \{ priority = 5, every = "5m" \}/,
    ],
    [`[[sink]]\ntype = "desktop"\ncoalesce = 30`, /"sink.coalesce" must be a duration/],
    [
      `[[sink]]\ntype = "desktop"\ncoalesce = "0s"`,
      /"sink.coalesce" is "0s"; use 1s to 1d\. A window of 0 would group nothing; to turn coalescing off, remove coalesce/,
    ],
    [`[[sink]]\ntype = "desktop"\ncoalesce = "30d"`, /"sink.coalesce" is "30d"; use 1s to 1d/],
    [`[[sink]]\ntype = "desktop"\ncoalesce = "500ms"`, /"sink.coalesce" is "500ms"; use 1s to 1d/],
    [
      `[[sink]]\ntype = "desktop"\nrepeat = { every = 300 }`,
      /"sink.repeat" has every as number 300: write a duration such as every = "5m" at line 3/,
    ],
    [`[[sink]]\ntype = "desktop"\nrepeat = { priority = 5 }`, /"sink.repeat" needs every, a duration/],
  ];
  for (const [text, message] of cases) {
    await t.step(text.replaceAll("\n", " | "), () => {
      assert.throws(() => parseConfig(text, "hark.toml"), (error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^Cannot read config "hark.toml": /);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("a desktop sink reads repeat and coalesce", () => {
  const layer = parseConfig(
    `[[sink]]\ntype = "desktop"\nrepeat = { priority = "urgent", every = "5m" }\ncoalesce = "30s"\n`,
    "hark.toml",
  );
  const [sink] = resolveConfig(layer, DEFAULTS).sinks;
  assert.deepEqual(sink.repeat, { priority: 5, every: 300_000 });
  assert.equal(sink.coalesce, 30_000);
});
