import assert from "node:assert/strict";
import { actionsOf, describeCli, describeOption, PRIORITY_VALUES } from "./completions_model.ts";
import { COMMANDS, GLOBAL_OPTIONS } from "./commands.ts";
import { parsePriority } from "../event/event.ts";

Deno.test("describeCli() loads every command without starting anything", async () => {
  // Deno's sanitizers fail this test if loading a command's module opens a
  // socket or starts a timer.
  const model = await describeCli();
  assert.deepEqual(model.commands.map((command) => command.name), COMMANDS.map((entry) => entry.name));
  assert.deepEqual(model.globals.map((option) => option.long), Object.keys(GLOBAL_OPTIONS));
  for (const entry of COMMANDS) {
    const command = await entry.load();
    const described = model.commands.find((candidate) => candidate.name === entry.name)!;
    assert.deepEqual(
      described.options.map((option) => [option.long, option.short, option.takesValue, option.multiple]),
      Object.entries(command.options).map(([long, spec]) => [
        long,
        spec.short,
        spec.type === "string",
        spec.multiple ?? false,
      ]),
      entry.name,
    );
  }
});

Deno.test("describeCli() knows actions, wrapped commands and value completions", async (t) => {
  const model = await describeCli();
  const command = (name: string) => model.commands.find((candidate) => candidate.name === name)!;
  const option = (name: string, long: string) =>
    [...model.globals, ...command(name).options].find((candidate) => candidate.long === long)!;
  const cases: { name: string; actual: () => unknown; expected: unknown }[] = [
    { name: "network actions", actual: () => command("network").actions, expected: ["create", "join", "show"] },
    { name: "completions actions", actual: () => command("completions").actions, expected: ["bash", "zsh", "fish"] },
    { name: "send has no actions", actual: () => command("send").actions, expected: [] },
    { name: "wrap runs a command", actual: () => command("wrap").wrapsCommand, expected: true },
    { name: "send runs no command", actual: () => command("send").wrapsCommand, expected: false },
    { name: "--config is a file", actual: () => option("send", "config").path, expected: "file" },
    { name: "--state-dir is a directory", actual: () => option("send", "state-dir").path, expected: "directory" },
    { name: "run --log-file is a file", actual: () => option("run", "log-file").path, expected: "file" },
    {
      name: "--log-level values",
      actual: () => option("send", "log-level").values,
      expected: ["trace", "debug", "info", "warning", "error", "fatal"],
    },
    { name: "send --priority values", actual: () => option("send", "priority").values, expected: PRIORITY_VALUES },
    { name: "send --topic is free text", actual: () => option("send", "topic").values, expected: undefined },
    { name: "send --topic description", actual: () => option("send", "topic").description, expected: "topic" },
    { name: "-h is --help", actual: () => option("send", "help").short, expected: "h" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepEqual(c.actual(), c.expected));
  }
});

Deno.test("actionsOf() reads fixed first words from a usage line", async (t) => {
  const cases: { usage: string; name: string; expected: string[] }[] = [
    {
      usage: "hark network create [NAME] [--force] | join TOKEN | show",
      name: "network",
      expected: ["create", "join", "show"],
    },
    { usage: "hark completions bash|zsh|fish", name: "completions", expected: ["bash", "zsh", "fish"] },
    { usage: "hark service install|uninstall|status", name: "service", expected: ["install", "uninstall", "status"] },
    { usage: "hark send [options] [BODY|-]", name: "send", expected: [] },
    { usage: "hark history [--since DURATION|ID|RFC3339] [-t TOPIC]...", name: "history", expected: [] },
    { usage: "hark wrap [options] -- CMD [ARGS...]", name: "wrap", expected: [] },
    { usage: "hark peers [--json]", name: "peers", expected: [] },
  ];
  for (const c of cases) {
    await t.step(c.usage, () => assert.deepEqual(actionsOf(c.usage, c.name), c.expected));
  }
});

Deno.test("describeOption() takes the first clause of the option's line", async (t) => {
  const help = `Options:
  -t, --topic T        topic (default "default"); a-z 0-9 . _ -, at most 64
      --direct         no local agent (CI, containers): join the network,
                       publish, leave; fails when no peer is reachable
      --json           machine-readable output
      --config FILE    config file (env HARK_CONFIG; default /home/me/.config/hark/config.toml)

  create   --force replaces the network`;
  const cases: { long: string; expected: string }[] = [
    { long: "topic", expected: "topic" },
    { long: "direct", expected: "no local agent: join the network, publish, leave" },
    { long: "json", expected: "machine-readable output" },
    { long: "config", expected: "config file" },
    { long: "force", expected: "" },
    { long: "missing", expected: "" },
  ];
  for (const c of cases) {
    await t.step(`--${c.long}`, () => assert.equal(describeOption(help, c.long), c.expected));
  }
});

Deno.test("PRIORITY_VALUES are all priorities parsePriority() accepts", () => {
  for (const value of PRIORITY_VALUES) assert.doesNotThrow(() => parsePriority(value), value);
  assert.deepEqual(new Set(PRIORITY_VALUES.map((value) => parsePriority(value))), new Set([1, 2, 3, 4, 5]));
});
