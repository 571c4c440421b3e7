import assert from "node:assert/strict";
import {
  type ConfigLayer,
  DEFAULT_LISTEN,
  envLayer,
  FILE_KEEP_DEFAULT,
  FILE_MAX_SIZE_DEFAULT,
  mergeConfig,
  parseBytes,
  parseConfig,
  resolveConfig,
  SINK_QUEUE_DEFAULT,
} from "./config.ts";
import { locateKey } from "./locate.ts";
import { ConfigError } from "../errors.ts";
import { inDir } from "./paths.ts";

/** Runs `parseConfig` and returns the ConfigError message it throws. */
function parseError(text: string, source = "a.toml"): string {
  try {
    parseConfig(text, source);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.name, "ConfigError");
    return error.message;
  }
  assert.fail(`parseConfig accepted:\n${text}`);
}

Deno.test("parseConfig() reads every supported table", () => {
  const layer = parseConfig(
    `
[network]
name = "office"
listen = ["/ip4/0.0.0.0/tcp/4001"]
peers = ["/dns4/gw.example.org/tcp/4001"]
mdns = false
relay = true

[agent]
topics = ["builds", "commits"]
host = "build-01"
max_event_bytes = "32KiB"

[[sink]]
type = "stdout"
topics = ["builds"]
min_priority = "high"

[[sink]]
type = "file"
path = "/var/log/hark.jsonl"
max_size = "1MB"
keep = 3
queue = 10
min_priority = 2
`,
    "a.toml",
  );
  assert.deepEqual(layer, {
    network: {
      name: "office",
      listen: ["/ip4/0.0.0.0/tcp/4001"],
      peers: ["/dns4/gw.example.org/tcp/4001"],
      mdns: false,
      relay: true,
    },
    agent: { topics: ["builds", "commits"], host: "build-01", max_event_bytes: 32 * 1024 },
    sink: [
      { type: "stdout", topics: ["builds"], min_priority: 4 },
      { type: "file", path: "/var/log/hark.jsonl", max_size: 1_000_000, keep: 3, queue: 10, min_priority: 2 },
    ],
  });
});

Deno.test("parseConfig() accepts an empty file", () => {
  assert.deepEqual(parseConfig("", "a.toml"), {});
  assert.deepEqual(parseConfig("# only a comment\n", "a.toml"), {});
});

Deno.test("parseConfig() names file, line and key of an unknown key", async (t) => {
  const cases: { name: string; text: string; message: string }[] = [
    {
      name: "in [network]",
      text: `[network]\nname = "x"\nmdns = true\nbnid = 3\n`,
      message: `Cannot read config "a.toml": unknown key "network.bnid" at line 4`,
    },
    {
      name: "after blank lines and comments",
      text: `# hark\n\n[network]\nname = "x" # comment\nlisten = []\n\nbnid = 1\n`,
      message: `Cannot read config "a.toml": unknown key "network.bnid" at line 7`,
    },
    {
      name: "at top level",
      text: `foo = 1\n[agent]\nhost = "h"\n`,
      message: `Cannot read config "a.toml": unknown key "foo" at line 1`,
    },
    {
      name: "as a dotted key",
      text: `\nnetwork.bnid = 1\n`,
      message: `Cannot read config "a.toml": unknown key "network.bnid" at line 2`,
    },
    {
      name: "in [agent] after [network]",
      text: `[network]\nmdns = true\n[agent]\nhost = "h"\ntopic = ["a"]\n`,
      message: `Cannot read config "a.toml": unknown key "agent.topic" at line 5`,
    },
    {
      name: "in the second [[sink]]",
      text: `[[sink]]\ntype = "stdout"\n\n[[sink]]\ntype = "file"\npath = "/x"\nbogus = 1\n`,
      message: `Cannot read config "a.toml": unknown key "sink.bogus" at line 7`,
    },
    {
      name: "a file key in a stdout sink",
      text: `[[sink]]\ntype = "stdout"\npath = "/x"\n`,
      message:
        `Cannot read config "a.toml": unknown key "sink.path" for a stdout sink: only file and plugin sinks read it; remove it, or move it to a [[sink]] with type = "file" at line 3`,
    },
  ];
  for (const { name, text, message } of cases) {
    await t.step(name, () => assert.equal(parseError(text), message));
  }
});

Deno.test("parseConfig() refuses topics outside SPEC's grammar wherever a config names one", async (t) => {
  const cases: { name: string; text: string; topic: string }[] = [
    { name: "agent.topics", text: `[agent]\ntopics = ["a..b"]\n`, topic: "a..b" },
    { name: "a source's topic", text: `[[source]]\ntype = "fifo"\npath = "/tmp/x"\ntopic = ".lead"\n`, topic: ".lead" },
    { name: "a catalog entry", text: `[topic."trail."]\ndescription = "x"\n`, topic: "trail." },
    { name: "65 characters", text: `[agent]\ntopics = ["${"a".repeat(65)}"]\n`, topic: "a".repeat(65) },
  ];
  for (const { name, text, topic } of cases) {
    await t.step(name, () => assert.ok(parseError(text).includes(`invalid topic "${topic}"`), parseError(text)));
  }
  await t.step("case is kept", () => {
    const config = parseConfig(`[agent]\ntopics = ["Phil_Alerts", "builds"]\n`, "a.toml");
    assert.deepEqual(config.agent?.topics, ["Phil_Alerts", "builds"]);
  });
});

Deno.test("parseConfig() uses the source name it is given", () => {
  assert.match(parseError(`bnid = 1\n`, "/etc/hark/config.toml"), /^Cannot read config "\/etc\/hark\/config\.toml": /);
});

Deno.test("parseConfig() names the line of a value of the wrong type", async (t) => {
  const cases: { name: string; text: string; message: string }[] = [
    {
      name: "bool as string",
      text: `[network]\nname = "x"\nmdns = "yes"\n`,
      message: `Cannot read config "a.toml": "network.mdns" must be true or false, not the string "yes" at line 3`,
    },
    {
      name: "string as number",
      text: `[agent]\nhost = 42\n`,
      message: `Cannot read config "a.toml": "agent.host" must be a string, not number 42 at line 2`,
    },
    {
      name: "list of numbers",
      text: `[network]\n\nlisten = [1, 2]\n`,
      message: `Cannot read config "a.toml": "network.listen" must be a list of strings, not a list at line 3`,
    },
    {
      name: "list as a string",
      text: `[network]\npeers = "/ip4/1.2.3.4/tcp/1"\n`,
      message:
        `Cannot read config "a.toml": "network.peers" must be a list of strings, not the string "/ip4/1.2.3.4/tcp/1" at line 2`,
    },
    {
      name: "bad topic",
      text: `[agent]\ntopics = ["Bad Topic"]\n`,
      message: `Cannot read config "a.toml": "agent.topics" is invalid: invalid topic "Bad Topic": ` +
        `use 1-64 characters from A-Z, a-z, 0-9, ".", "_" and "-" (case kept), ` +
        `without a leading or trailing "." or ".." at line 2`,
    },
    {
      name: "priority out of range",
      text: `[[sink]]\ntype = "stdout"\nmin_priority = 9\n`,
      message: `Cannot read config "a.toml": "sink.min_priority" is invalid: invalid priority "9": ` +
        `use 1-5 or min, low, default, high, urgent at line 3`,
    },
    {
      name: "priority as a bool",
      text: `[[sink]]\ntype = "stdout"\nmin_priority = true\n`,
      message:
        `Cannot read config "a.toml": "sink.min_priority" must be 1-5 or a priority name, not boolean true at line 3`,
    },
    {
      name: "size that is not a size",
      text: `[agent]\nmax_event_bytes = "lots"\n`,
      message: `Cannot read config "a.toml": "agent.max_event_bytes" is invalid: ` +
        `"lots" is not a size; use e.g. 16384, "16KiB" or "10MB" at line 2`,
    },
    {
      name: "queue of zero",
      text: `[[sink]]\ntype = "stdout"\nqueue = 0\n`,
      message: `Cannot read config "a.toml": "sink.queue" must be a whole number of at least 1, not number 0 at line 3`,
    },
    {
      name: "keep as a fraction",
      text: `[[sink]]\ntype = "file"\nkeep = 1.5\n`,
      message:
        `Cannot read config "a.toml": "sink.keep" must be a whole number of at least 1, not number 1.5 at line 3`,
    },
    {
      name: "table as a scalar",
      text: `network = 3\n`,
      message: `Cannot read config "a.toml": "network" must be a table at line 1`,
    },
  ];
  for (const { name, text, message } of cases) {
    await t.step(name, () => assert.equal(parseError(text), message));
  }
});

Deno.test("parseConfig() reports TOML syntax errors with their line", async (t) => {
  const cases: { name: string; text: string; line: number }[] = [
    { name: "unclosed header", text: `[network\nmdns = true\n`, line: 1 },
    { name: "missing value", text: `[agent]\nhost = \n`, line: 2 },
    { name: "unterminated string", text: `[agent]\n\nhost = "build\n`, line: 3 },
    { name: "duplicate key", text: `[agent]\nhost = "a"\nhost = "b"\n`, line: 3 },
  ];
  for (const { name, text, line } of cases) {
    await t.step(name, () => {
      const message = parseError(text);
      assert.match(message, new RegExp(`^Cannot read config "a\\.toml": invalid TOML at line ${line}: \\S`));
      assert.ok(!message.includes("\n"), `one line: ${message}`);
    });
  }
});

Deno.test("parseConfig() keeps the TOML error as the cause", () => {
  try {
    parseConfig(`[network\n`, "a.toml");
    assert.fail("accepted bad TOML");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(error.cause instanceof Error);
  }
});

Deno.test("parseConfig() reads [[sink]] entries in order", () => {
  const layer = parseConfig(
    `[[sink]]\ntype = "file"\npath = "/a"\n\n[[sink]]\ntype = "stdout"\n\n[[sink]]\ntype = "file"\npath = "/b"\n`,
    "a.toml",
  );
  assert.deepEqual(layer.sink, [{ type: "file", path: "/a" }, { type: "stdout" }, { type: "file", path: "/b" }]);
});

Deno.test("parseConfig() rejects bad [[sink]] entries at their line", async (t) => {
  const cases: { name: string; text: string; message: string | RegExp }[] = [
    {
      name: "unknown type",
      text: `[[sink]]\ntype = "stdout"\n\n[[sink]]\ntype = "pager"\n`,
      message:
        `Cannot read config "a.toml": unknown sink type "pager" (use stdout, file, desktop, exec, webhook, plugin) at line 5`,
    },
    {
      name: "exec without a command",
      text: `[[sink]]\ntype = "stdout"\n[[sink]]\ntype = "exec"\n`,
      message:
        `Cannot read config "a.toml": an exec sink needs command, e.g. command = ["/path/to/program", "arg"] at line 4`,
    },
    {
      name: "exec command as a shell string",
      text: `[[sink]]\ntype = "exec"\ncommand = "notify-send hi"\n`,
      message:
        `Cannot read config "a.toml": "sink.command" must be a list such as ["/usr/local/bin/notify", "--quiet"]: the program, then its arguments at line 3`,
    },
    {
      name: "webhook without a url",
      text: `[[sink]]\ntype = "webhook"\n`,
      message: `Cannot read config "a.toml": a webhook sink needs url, e.g. url = "https://example.org/hook" at line 2`,
    },
    {
      name: "webhook with a file url",
      text: `[[sink]]\ntype = "webhook"\nurl = "file:///etc/passwd"\n`,
      message:
        `Cannot read config "a.toml": "sink.url" must be an http:// or https:// URL, not the string "file:///etc/passwd" at line 3`,
    },
    {
      name: "webhook with an unknown format",
      text: `[[sink]]\ntype = "webhook"\nurl = "https://x.example/h"\nformat = "teams"\n`,
      message:
        `Cannot read config "a.toml": "sink.format" must be one of json, slack, discord, ntfy, not the string "teams" at line 4`,
    },
    {
      name: "webhook header that is not a header name",
      text: `[[sink]]\ntype = "webhook"\nurl = "https://x.example/h"\nheaders = { "Bad Name" = "x" }\n`,
      message: `Cannot read config "a.toml": "sink.headers" holds "Bad Name", which is not a header name at line 4`,
    },
    {
      name: "a when filter with an unknown field",
      text: `[[sink]]\ntype = "stdout"\nwhen = 'priority >= 4 and prio == 1'\n`,
      message: /^Cannot read config "a\.toml": "sink\.when" is invalid at column 19: unknown field "prio".* at line 3$/,
    },
    {
      name: "a topic glob with a bad character",
      text: `[[sink]]\ntype = "stdout"\ntopics = ["builds/*"]\n`,
      message: /^Cannot read config "a\.toml": "sink\.topics" is invalid: .* at line 3$/,
    },
    {
      name: "a desktop key on a file sink",
      text: `[[sink]]\ntype = "file"\nmax_popups = 3\n`,
      message:
        `Cannot read config "a.toml": unknown key "sink.max_popups" for a file sink: only desktop sinks read it; remove it, or move it to a [[sink]] with type = "desktop" at line 3`,
    },
    {
      name: "a desktop sink's repeat on a file sink",
      text: `[[sink]]\ntype = "file"\nrepeat = { every = "5m" }\n`,
      message:
        `Cannot read config "a.toml": unknown key "sink.repeat" for a file sink: only desktop sinks read it; remove it, or move it to a [[sink]] with type = "desktop" at line 3`,
    },
    {
      name: "an http source's token on a fifo source",
      text: `[[source]]\ntype = "fifo"\npath = "/tmp/x"\ntoken = "t"\n`,
      message:
        `Cannot read config "a.toml": unknown key "source.token" for a fifo source: only http sources read it; remove it, or move it to a [[source]] with type = "http" at line 4`,
    },
    {
      name: "no type",
      text: `[[sink]]\ntype = "stdout"\n\n[[sink]]\ntopics = ["a"]\n`,
      message:
        `Cannot read config "a.toml": sink 2 needs a type (stdout, file, desktop, exec, webhook, plugin) at line 4`,
    },
    {
      name: "type that is not a string",
      text: `[[sink]]\ntype = 1\n`,
      message:
        `Cannot read config "a.toml": sink 1 needs a type (stdout, file, desktop, exec, webhook, plugin) at line 2`,
    },
    {
      name: "[sink] as a plain table",
      text: `[sink]\ntype = "stdout"\n`,
      message: `Cannot read config "a.toml": "sink" must be written as [[sink]] tables at line 1`,
    },
  ];
  for (const { name, text, message } of cases) {
    await t.step(name, () => {
      if (typeof message === "string") assert.equal(parseError(text), message);
      else assert.match(parseError(text), message);
    });
  }
});

Deno.test("parseConfig() reads [[source]] entries of each type", () => {
  const layer = parseConfig(
    [
      `[[source]]\ntype = "fifo"\npath = "/tmp/alert"\nmode = 0o620\ngroup = "adm"\ntopic = "stations"`,
      `[[source]]\ntype = "http"\nlisten = "127.0.0.1:8089"\ntoken = "t"`,
      `[[source]]\ntype = "watch"\npath = "/var/log/app.log"\nrate = 30`,
      `rules = [{ pattern = "ERROR (?<msg>.*)", topic = "logs", priority = 4, title = "ERROR on {host}" }]`,
    ].join("\n"),
    "a.toml",
  );
  assert.deepEqual(layer.source, [
    { type: "fifo", path: "/tmp/alert", mode: 0o620, group: "adm", topic: "stations" },
    { type: "http", listen: "127.0.0.1:8089", token: "t" },
    {
      type: "watch",
      path: "/var/log/app.log",
      rate: 30,
      rules: [{ pattern: "ERROR (?<msg>.*)", topic: "logs", priority: 4, title: "ERROR on {host}" }],
    },
  ]);
  assert.equal(parseConfig(`[[source]]\ntype = "fifo"\npath = "/p"\nmode = "0600"`, "a.toml").source![0].mode, 0o600);
});

Deno.test("parseConfig() rejects bad [[source]] entries at their line", async (t) => {
  const cases: { name: string; text: string; message: RegExp }[] = [
    {
      name: "unknown type",
      text: `[[source]]\ntype = "mqtt"\n`,
      message: /source 1 needs a type \(fifo, http, watch\).* at line 2/,
    },
    {
      name: "fifo without a path",
      text: `[[source]]\ntype = "fifo"\n`,
      message: /a fifo source needs path.* at line 2/,
    },
    {
      name: "watch without rules",
      text: `[[source]]\ntype = "watch"\npath = "/x"\n`,
      message: /a watch source needs rules, e\.g\. rules = .* at line 2/,
    },
    {
      name: "a rule that is not a regular expression",
      text: `[[source]]\ntype = "watch"\npath = "/x"\nrules = [{ pattern = "ERROR (" }]\n`,
      message: /rule 1's pattern is not a regular expression/,
    },
    {
      name: "a mode that is not a mode",
      text: `[[source]]\ntype = "fifo"\npath = "/x"\nmode = "rw-"\n`,
      message: /"source\.mode" must be a permission mode such as 0o620 or "0620".* at line 4/,
    },
    {
      name: "an http key on a fifo",
      text: `[[source]]\ntype = "fifo"\npath = "/x"\ntoken = "t"\n`,
      message: /unknown key "source\.token" for a fifo source: only http sources read it.* at line 4/,
    },
  ];
  for (const { name, text, message } of cases) await t.step(name, () => assert.match(parseError(text), message));
});

Deno.test("locateKey() finds the line of a key path", async (t) => {
  const text = [
    `# hark config`, // 1
    `[network]`, // 2
    `name = "office"`, // 3
    `"mdns" = true`, // 4
    ``, // 5
    `[[sink]]`, // 6
    `type = "stdout"`, // 7
    ``, // 8
    `[[sink]]`, // 9
    `type = "file"`, // 10
    `path = "/x"`, // 11
    `[ agent ] # the agent`, // 12
    `host = "h"`, // 13
  ].join("\n");
  const cases: { path: (string | number)[]; line: number }[] = [
    { path: ["network", "name"], line: 3 },
    { path: ["network", "mdns"], line: 4 },
    { path: ["sink", 0, "type"], line: 7 },
    { path: ["sink", 1, "type"], line: 10 },
    { path: ["sink", 1, "path"], line: 11 },
    { path: ["agent", "host"], line: 13 },
    { path: ["sink", 1], line: 9 },
    { path: ["sink", 1, "missing"], line: 9 },
    { path: ["network", "missing"], line: 2 },
    { path: ["nowhere"], line: 0 },
  ];
  for (const { path, line } of cases) {
    await t.step(path.join("."), () => assert.equal(locateKey(text, path), line));
  }
});

Deno.test("locateKey() handles CRLF line endings", () => {
  assert.equal(locateKey(`[network]\r\nname = "x"\r\nbnid = 1\r\n`, ["network", "bnid"]), 3);
});

Deno.test("mergeConfig() lets later layers win for scalars", async (t) => {
  const cases: { name: string; base: ConfigLayer; over: ConfigLayer; expected: ConfigLayer }[] = [
    {
      name: "over replaces",
      base: { network: { name: "a", mdns: true }, agent: { host: "a" } },
      over: { network: { name: "b", mdns: false }, agent: { host: "b" } },
      expected: {
        network: { name: "b", mdns: false },
        agent: { host: "b" },
        sink: [],
        source: [],
        topic: {},
        store: {},
        membership: {},
      },
    },
    {
      name: "false switches a true off",
      base: { network: { mdns: true, relay: true } },
      over: { network: { relay: false } },
      expected: {
        network: { mdns: true, relay: false },
        agent: {},
        sink: [],
        source: [],
        topic: {},
        store: {},
        membership: {},
      },
    },
    {
      name: "undefined leaves the base",
      base: { network: { name: "a" }, agent: { host: "a" } },
      over: { network: { name: undefined }, agent: {} },
      expected: {
        network: { name: "a" },
        agent: { host: "a" },
        sink: [],
        source: [],
        topic: {},
        store: {},
        membership: {},
      },
    },
    {
      name: "missing tables",
      base: {},
      over: { agent: { max_event_bytes: 2048 } },
      expected: {
        network: {},
        agent: { max_event_bytes: 2048 },
        sink: [],
        source: [],
        topic: {},
        store: {},
        membership: {},
      },
    },
  ];
  for (const { name, base, over, expected } of cases) {
    await t.step(name, () => assert.deepEqual(mergeConfig(base, over), expected));
  }
});

Deno.test("mergeConfig() appends lists", async (t) => {
  await t.step("table lists append without duplicates", () => {
    const merged = mergeConfig(
      { network: { listen: ["/a", "/b"], peers: ["/p"] }, agent: { topics: ["default"] } },
      { network: { listen: ["/b", "/c"] }, agent: { topics: ["builds"] } },
    );
    assert.deepEqual(merged.network?.listen, ["/a", "/b", "/c"]);
    assert.deepEqual(merged.network?.peers, ["/p"]);
    assert.deepEqual(merged.agent?.topics, ["default", "builds"]);
  });
  await t.step("sinks append in layer order", () => {
    const merged = mergeConfig(
      { sink: [{ type: "stdout" }] },
      { sink: [{ type: "file", path: "/x" }] },
    );
    assert.deepEqual(merged.sink, [{ type: "stdout" }, { type: "file", path: "/x" }]);
  });
  await t.step("inputs are not changed", () => {
    const base: ConfigLayer = { network: { listen: ["/a"] }, sink: [{ type: "stdout" }] };
    const over: ConfigLayer = { network: { listen: ["/b"] }, sink: [{ type: "stdout" }] };
    mergeConfig(base, over);
    assert.deepEqual(base, { network: { listen: ["/a"] }, sink: [{ type: "stdout" }] });
    assert.deepEqual(over, { network: { listen: ["/b"] }, sink: [{ type: "stdout" }] });
  });
});

Deno.test("envLayer() reads HARK_* variables", async (t) => {
  const cases: { name: string; env: Record<string, string | undefined>; expected: ConfigLayer }[] = [
    { name: "nothing set", env: {}, expected: { network: {}, agent: {} } },
    {
      name: "HARK_LISTEN splits on commas and trims",
      env: { HARK_LISTEN: " /ip4/127.0.0.1/tcp/0 , /ip4/0.0.0.0/tcp/4001,," },
      expected: { network: { listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/tcp/4001"] }, agent: {} },
    },
    {
      name: "HARK_PEERS",
      env: { HARK_PEERS: "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWa,/dns4/gw/tcp/4001" },
      expected: { network: { peers: ["/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWa", "/dns4/gw/tcp/4001"] }, agent: {} },
    },
    {
      name: "HARK_TOPICS",
      env: { HARK_TOPICS: "builds, commits" },
      expected: { network: {}, agent: { topics: ["builds", "commits"] } },
    },
    { name: "HARK_HOST", env: { HARK_HOST: "build-01" }, expected: { network: {}, agent: { host: "build-01" } } },
    { name: "HARK_MDNS=false", env: { HARK_MDNS: "false" }, expected: { network: { mdns: false }, agent: {} } },
    { name: "HARK_MDNS=0", env: { HARK_MDNS: "0" }, expected: { network: { mdns: false }, agent: {} } },
    { name: "HARK_MDNS=TRUE", env: { HARK_MDNS: " TRUE " }, expected: { network: { mdns: true }, agent: {} } },
    { name: "HARK_MDNS=1", env: { HARK_MDNS: "1" }, expected: { network: { mdns: true }, agent: {} } },
    { name: "unrelated variables", env: { HOME: "/home/x", HARK_BOGUS: "1" }, expected: { network: {}, agent: {} } },
  ];
  for (const { name, env, expected } of cases) {
    // deepEqual treats a key set to undefined like a missing key only in loose mode,
    // so compare through JSON.
    await t.step(name, () => assert.deepEqual(JSON.parse(JSON.stringify(envLayer(env))), expected));
  }
});

Deno.test("envLayer() rejects invalid values", async (t) => {
  const cases: { name: string; env: Record<string, string>; message: RegExp }[] = [
    { name: "HARK_MDNS=yes", env: { HARK_MDNS: "yes" }, message: /^HARK_MDNS must be true or false, not "yes"$/ },
    { name: "HARK_MDNS empty", env: { HARK_MDNS: "" }, message: /^HARK_MDNS must be true or false/ },
    {
      name: "HARK_TOPICS with a bad topic",
      env: { HARK_TOPICS: "ok,Not OK" },
      message: /^HARK_TOPICS: invalid topic "Not OK"/,
    },
  ];
  for (const { name, env, message } of cases) {
    await t.step(
      name,
      () => assert.throws(() => envLayer(env), (error) => error instanceof ConfigError && message.test(error.message)),
    );
  }
});

const DEFAULTS = { host: "test-host", stateDir: "/state/hark" };

/** What resolveConfig() fills in for the keys of sink types other than the one at hand. */
const SINK_DEFAULTS = {
  when: undefined,
  max_popups: 5,
  popup_window: 10_000,
  repeat: undefined,
  coalesce: undefined,
  command: undefined,
  timeout: 30_000,
  concurrency: 4,
  slow_after: undefined,
  url: undefined,
  format: "json",
  headers: undefined,
  secret: undefined,
  retries: 3,
};

Deno.test("resolveConfig() fills defaults", () => {
  const config = resolveConfig({}, DEFAULTS);
  assert.deepEqual(config.network, {
    name: undefined,
    listen: [DEFAULT_LISTEN],
    peers: [],
    mdns: true,
    relay: false,
    publisher_rate: 20,
    publisher_burst: 200,
    max_connections: 64,
  });
  assert.deepEqual(config.topic, {});
  assert.deepEqual(config.store, {
    retention_ms: 7 * 86_400_000,
    max_events: 100_000,
    max_events_per_publisher: 25_000,
  });
  assert.equal(DEFAULT_LISTEN, "/ip4/0.0.0.0/tcp/4001");
  assert.deepEqual(config.agent, { topics: ["default"], host: "test-host", max_event_bytes: 16 * 1024 });
  assert.deepEqual(config.sinks, [
    {
      type: "stdout",
      topics: undefined,
      min_priority: 1,
      queue: SINK_QUEUE_DEFAULT,
      path: undefined,
      max_size: FILE_MAX_SIZE_DEFAULT,
      keep: FILE_KEEP_DEFAULT,
      max_age: 600_000,
      summarize_after: 5,
      ...SINK_DEFAULTS,
    },
    {
      type: "file",
      topics: undefined,
      min_priority: 1,
      queue: SINK_QUEUE_DEFAULT,
      path: inDir("/state/hark", "events.jsonl"),
      max_size: FILE_MAX_SIZE_DEFAULT,
      keep: FILE_KEEP_DEFAULT,
      max_age: 600_000,
      summarize_after: 5,
      ...SINK_DEFAULTS,
    },
  ]);
});

Deno.test("resolveConfig() refuses what the agent would accept but cannot run with", async (t) => {
  const refuses = (text: string, message: RegExp) => {
    const layer = parseConfig(text, "a.toml");
    assert.throws(() => resolveConfig(layer, DEFAULTS), (error) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
      assert.match(error.message, message);
      return true;
    });
  };
  const runs = (text: string) => resolveConfig(parseConfig(text, "a.toml"), DEFAULTS);
  await t.step("a host over 255 characters, which peers would refuse in every event", () => {
    refuses(`[agent]\nhost = "${"h".repeat(256)}"\n`, /^agent\.host is 256 characters; the limit is 255/);
    assert.equal(runs(`[agent]\nhost = "${"h".repeat(255)}"\n`).agent.host.length, 255);
  });
  await t.step("a host over 255 characters from HARK_HOST", () => {
    assert.throws(() => resolveConfig(envLayer({ HARK_HOST: "h".repeat(300) }), DEFAULTS), /agent\.host is 300/);
  });
  await t.step('status_interval = "1ms", which would starve hark send', () => {
    refuses(
      `[membership]\nstatus_interval = "1ms"\n`,
      /status_interval is 1 ms; use "0s" \(never\) or at least 1000 ms/,
    );
  });
  await t.step("a status_interval that takes over half the publisher rate", () => {
    refuses(`[network]\npublisher_rate = 0.5\n[membership]\nstatus_interval = "1s"\n`, /at least 4000 ms/);
    assert.equal(
      runs(`[network]\npublisher_rate = 0.5\n[membership]\nstatus_interval = "4s"\n`).membership.status_interval_ms,
      4000,
    );
  });
  await t.step('status_interval = "0s" still switches status events off', () => {
    assert.equal(runs(`[membership]\nstatus_interval = "0s"\n`).membership.status_interval_ms, 0);
  });
  await t.step('leave_after = "1ms"', () => {
    refuses(`[membership]\nleave_after = "1ms"\n`, /leave_after is 1 ms; use at least 1000 ms/);
  });
  await t.step("max_connections below 8, which gossipsub's mesh alone would fill", () => {
    refuses(`[network]\nmax_connections = 7\n`, /^network\.max_connections is 7; use at least 8 .*or 0 for no limit/);
    assert.equal(runs(`[network]\nmax_connections = 8\n`).network.max_connections, 8);
  });
  await t.step("max_connections = 0 is no limit, and a relay's default", () => {
    assert.equal(runs(`[network]\nmax_connections = 0\n`).network.max_connections, 0);
    assert.equal(runs(`[network]\nrelay = true\n`).network.max_connections, 0);
    assert.equal(runs(`[network]\nrelay = true\nmax_connections = 500\n`).network.max_connections, 500);
  });
  await t.step("max_connections that is not a whole number", () => {
    assert.throws(
      () => parseConfig(`[network]\nmax_connections = 10.5\n`, "a.toml"),
      /max_connections.*must be a whole number of at least 0/,
    );
  });
});

Deno.test("resolveConfig() lets a layer override defaults", async (t) => {
  await t.step("mdns = false wins over the default true", () => {
    const file = parseConfig(`[network]\nmdns = false\n`, "a.toml");
    const layer = mergeConfig(mergeConfig({}, file), envLayer({}));
    assert.equal(resolveConfig(layer, DEFAULTS).network.mdns, false);
  });
  await t.step("HARK_MDNS=false wins over a file's true", () => {
    const file = parseConfig(`[network]\nmdns = true\n`, "a.toml");
    const layer = mergeConfig(file, envLayer({ HARK_MDNS: "false" }));
    assert.equal(resolveConfig(layer, DEFAULTS).network.mdns, false);
  });
  await t.step("relay = true", () => {
    assert.equal(resolveConfig({ network: { relay: true } }, DEFAULTS).network.relay, true);
  });
  await t.step("listen replaces the default listen address", () => {
    const config = resolveConfig({ network: { listen: ["/ip4/127.0.0.1/tcp/0"] } }, DEFAULTS);
    assert.deepEqual(config.network.listen, ["/ip4/127.0.0.1/tcp/0"]);
  });
  await t.step("an empty listen list falls back to the default", () => {
    assert.deepEqual(resolveConfig({ network: { listen: [] } }, DEFAULTS).network.listen, [DEFAULT_LISTEN]);
  });
  await t.step("topics and host", () => {
    const config = resolveConfig({ agent: { topics: ["builds"], host: "ci-01" } }, DEFAULTS);
    assert.deepEqual(config.agent.topics, ["builds"]);
    assert.equal(config.agent.host, "ci-01");
  });
  await t.step("an empty host falls back to the default host", () => {
    assert.equal(resolveConfig({ agent: { host: "" } }, DEFAULTS).agent.host, "test-host");
  });
  await t.step("configured sinks replace the default sinks", () => {
    const config = resolveConfig(
      { sink: [{ type: "stdout", min_priority: 4, topics: ["builds"], queue: 5 }] },
      DEFAULTS,
    );
    assert.equal(config.sinks.length, 1);
    assert.deepEqual(config.sinks[0], {
      type: "stdout",
      topics: ["builds"],
      min_priority: 4,
      queue: 5,
      path: undefined,
      max_size: FILE_MAX_SIZE_DEFAULT,
      keep: FILE_KEEP_DEFAULT,
      max_age: 600_000,
      summarize_after: 5,
      ...SINK_DEFAULTS,
    });
  });
  await t.step("a webhook sink's timeout defaults to 10 s, an exec sink's to 30 s", () => {
    const config = resolveConfig(
      { sink: [{ type: "webhook", url: "https://x.example/h" }, { type: "exec", command: ["/bin/true"] }] },
      DEFAULTS,
    );
    assert.deepEqual(config.sinks.map((sink) => sink.timeout), [10_000, 30_000]);
  });
  await t.step("a file sink without a path writes to the state dir", () => {
    const config = resolveConfig({ sink: [{ type: "file", keep: 2, max_size: 1024 }] }, DEFAULTS);
    assert.equal(config.sinks[0].path, inDir("/state/hark", "events.jsonl"));
    assert.equal(config.sinks[0].keep, 2);
    assert.equal(config.sinks[0].max_size, 1024);
  });
  await t.step("max_event_bytes", () => {
    assert.equal(resolveConfig({ agent: { max_event_bytes: 1024 * 1024 } }, DEFAULTS).agent.max_event_bytes, 1048576);
  });
});

Deno.test("resolveConfig() rejects max_event_bytes outside 1 KiB to 1 MiB", async (t) => {
  for (const bytes of [1023, 1024 * 1024 + 1]) {
    await t.step(String(bytes), () => {
      assert.throws(
        () => resolveConfig({ agent: { max_event_bytes: bytes } }, DEFAULTS),
        (error) =>
          error instanceof ConfigError &&
          error.message === `agent.max_event_bytes must be between 1 KiB and 1 MiB, not ${bytes}`,
      );
    });
  }
});

Deno.test("parseBytes() reads sizes", async (t) => {
  const cases: [unknown, number][] = [
    [16384, 16384],
    [1, 1],
    ["16384", 16384],
    ["16KiB", 16 * 1024],
    ["16kib", 16 * 1024],
    ["10MB", 10_000_000],
    ["10 MB", 10_000_000],
    [" 7 ", 7],
    ["7b", 7],
    ["1kb", 1000],
    ["2MiB", 2 * 1024 * 1024],
    ["1GB", 1_000_000_000],
    ["1GiB", 1024 ** 3],
    ["1.5KiB", 1536],
  ];
  for (const [raw, bytes] of cases) {
    await t.step(JSON.stringify(raw), () => assert.equal(parseBytes(raw), bytes));
  }
});

Deno.test("parseBytes() rejects what is not a size", async (t) => {
  const cases: unknown[] = [0, -1, 1.5, NaN, Infinity, "", "lots", "10xb", "-5", "5 K B", "1e3", null, true, [1], {}];
  for (const raw of cases) {
    await t.step(typeof raw === "number" ? String(raw) : JSON.stringify(raw), () => {
      assert.throws(
        () => parseBytes(raw),
        (error) =>
          error instanceof RangeError && /is not a size; use e\.g\. 16384, "16KiB" or "10MB"$/.test(error.message),
      );
    });
  }
});

Deno.test("parseBytes() rejects sizes that round to zero", () => {
  for (const raw of ["0", "0.4", "0KiB"]) assert.throws(() => parseBytes(raw), RangeError, raw);
});

Deno.test("parseConfig() reads [topic.NAME] publishers", async (t) => {
  const peer = "12D3KooWLCrMTaycJBbMnAjCYy51BSt6qHriFWLEetDiLK9v2vyB";
  await t.step("valid", () => {
    const layer = parseConfig(`[topic.builds]\npublishers = ["${peer}"]\n`, "a.toml");
    assert.deepEqual(layer.topic, { builds: { publishers: [peer] } });
  });
  await t.step("not a peer id", () => {
    assert.throws(
      () => parseConfig(`[topic.builds]\npublishers = ["alice"]\n`, "a.toml"),
      /Cannot read config "a.toml": "topic.builds.publishers" holds "alice", which is not a peer id .* at line 2/,
    );
  });
  await t.step("bad topic name", () => {
    assert.throws(
      () => parseConfig(`[topic."a..b"]\npublishers = []\n`, "a.toml"),
      /\[topic.a..b\] is invalid: invalid topic "a..b"/,
    );
  });
  await t.step("unknown key", () => {
    assert.throws(
      () => parseConfig(`[topic.builds]\nreaders = []\n`, "a.toml"),
      /unknown key "topic.builds.readers" at line 2/,
    );
  });
  await t.step("later layers replace a topic's list", () => {
    const merged = mergeConfig({ topic: { builds: { publishers: [peer] } } }, { topic: { deploys: {} } });
    assert.deepEqual(merged.topic, { builds: { publishers: [peer] }, deploys: {} });
  });
});

Deno.test("parseConfig() checks the publisher rate limit", () => {
  const layer = parseConfig(`[network]\npublisher_rate = 2.5\npublisher_burst = 10\n`, "a.toml");
  assert.equal(layer.network?.publisher_rate, 2.5);
  assert.throws(() => parseConfig(`[network]\npublisher_rate = 0\n`, "a.toml"), /must be a positive number.*line 2/);
});

Deno.test("parseConfig() reads [store] retention, max_events and max_events_per_publisher", () => {
  const layer = parseConfig(`[store]\nretention = "12h"\nmax_events = 500\nmax_events_per_publisher = 50\n`, "a.toml");
  assert.deepEqual(layer.store, { retention_ms: 12 * 3_600_000, max_events: 500, max_events_per_publisher: 50 });
  assert.throws(
    () => parseConfig(`[store]\nretention = 7\n`, "a.toml"),
    /"store.retention" must be a duration.* at line 2/,
  );
  assert.throws(() => parseConfig(`[store]\nkeep = 7\n`, "a.toml"), /unknown key "store.keep" at line 2/);
});

Deno.test("parseConfig() reads a stdout sink's max_age and summarize_after", () => {
  const layer = parseConfig(`[[sink]]\ntype = "stdout"\nmax_age = "1h"\nsummarize_after = 20\n`, "a.toml");
  assert.deepEqual(layer.sink, [{ type: "stdout", max_age: 3_600_000, summarize_after: 20 }]);
  // Every sink has a max_age (how much history a new agent passes on); only stdout summarizes.
  const file = parseConfig(`[[sink]]\ntype = "file"\nmax_age = "2h"\n`, "a.toml");
  assert.deepEqual(file.sink, [{ type: "file", max_age: 7_200_000 }]);
  assert.throws(
    () => parseConfig(`[[sink]]\ntype = "file"\nsummarize_after = 3\n`, "a.toml"),
    /unknown key "sink.summarize_after" for a file sink: only stdout and desktop sinks read it/,
  );
});

Deno.test("parseConfig() reads [topic.NAME] description and schema", async (t) => {
  await t.step("inline", () => {
    const layer = parseConfig(
      `[topic.builds]\ndescription = "CI builds"\n[topic.builds.schema]\ntype = "object"\nrequired = ["status"]\n[topic.builds.schema.properties.status]\nenum = ["ok", "failed"]\n`,
      "a.toml",
    );
    assert.deepEqual(layer.topic?.builds, {
      description: "CI builds",
      schema: { type: "object", required: ["status"], properties: { status: { enum: ["ok", "failed"] } } },
    });
  });
  const dir = await Deno.makeTempDir();
  try {
    const schema = { type: "object", required: ["status"] };
    await Deno.writeTextFile(`${dir}/builds.json`, JSON.stringify(schema));
    await Deno.writeTextFile(`${dir}/broken.json`, "{ type: object");
    await Deno.writeTextFile(`${dir}/list.json`, "[1, 2]");
    await t.step("a file, relative to the config file", () => {
      const layer = parseConfig(`[topic.builds]\nschema = "builds.json"\n`, `${dir}/hark.toml`);
      assert.deepEqual(layer.topic?.builds.schema, schema);
    });
    await t.step("an absolute path", () => {
      const layer = parseConfig(`[topic.builds]\nschema = "${dir}/builds.json"\n`, "/elsewhere/hark.toml");
      assert.deepEqual(layer.topic?.builds.schema, schema);
    });
    await t.step("a missing file", () => {
      assert.throws(
        () => parseConfig(`[topic.builds]\n\nschema = "nope.json"\n`, `${dir}/hark.toml`),
        new RegExp(`"topic.builds.schema" names the file ${dir}/nope.json, which does not exist at line 3`),
      );
    });
    await t.step("a file that is not JSON", () => {
      assert.throws(
        () => parseConfig(`[topic.builds]\nschema = "broken.json"\n`, `${dir}/hark.toml`),
        /"topic.builds.schema" names the file .*broken.json, which is not JSON: .* at line 2/,
      );
    });
    await t.step("a file that holds no object", () => {
      assert.throws(
        () => parseConfig(`[topic.builds]\nschema = "list.json"\n`, `${dir}/hark.toml`),
        /list.json, which holds a list, not a JSON Schema object at line 2/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await t.step("neither a table nor a path", () => {
    assert.throws(
      () => parseConfig(`[topic.builds]\nschema = 5\n`, "a.toml"),
      /"topic.builds.schema" must be a JSON Schema as an inline table, or the path of a JSON file, not number 5 at line 2/,
    );
    assert.throws(
      () => parseConfig(`[topic.builds]\ndescription = ["x"]\n`, "a.toml"),
      /"topic.builds.description" must be a string, not a list at line 2/,
    );
  });
});

Deno.test("parseConfig() reads a plugin sink: one file or a directory, relative to the config, with grants", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-config-plugin-" });
  try {
    await Deno.mkdir(`${dir}/plugins`);
    await Deno.writeTextFile(`${dir}/plugins/a.ts`, "export function register() {}");
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a plugin");
    const source = `${dir}/hark.toml`;
    const sink = (body: string) => parseConfig(`[[sink]]\ntype = "plugin"\n${body}`, source).sink![0];

    await t.step("paths and read/write grants are resolved against the config's directory", () => {
      const read = sink(
        `path = "plugins/a.ts"\nallow_read = ["data"]\nallow_write = ["/var/out"]\nallow_net = ["x.org"]`,
      );
      assert.equal(read.path, `${dir}/plugins/a.ts`);
      assert.deepEqual(read.allow_read, [`${dir}/data`]);
      assert.deepEqual(read.allow_write, ["/var/out"]);
      assert.deepEqual(read.allow_net, ["x.org"]);
      assert.equal(sink(`plugins = "plugins"`).plugins, `${dir}/plugins`);
    });
    for (
      const [body, message] of [
        [``, /a plugin sink needs either path \(one file.*\) or plugins \(a directory/],
        [`path = "plugins/a.ts"\nplugins = "plugins"`, /needs either path .* or plugins/],
        [`path = "missing.ts"`, /"sink\.path" names .*missing\.ts, which does not exist at line 3/],
        [`path = "notes.txt"`, /a plugin is a \.ts, \.js or \.mjs file/],
        [`path = "plugins"`, /which is not a file/],
        [`plugins = "plugins/a.ts"`, /which is not a directory/],
        [`path = "plugins/a.ts"\nallow_run = "sh"`, /"sink\.allow_run" must be a list of strings/],
      ] as const
    ) {
      await t.step(`refuses ${body || "neither"}`, () => {
        assert.throws(() => sink(body), (error) => error instanceof ConfigError && message.test(error.message));
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
