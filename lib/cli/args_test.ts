import assert from "node:assert/strict";
import { parseArgs } from "./args.ts";
import { UsageError } from "../errors.ts";

const SPECS = {
  topic: { type: "string", short: "t" },
  tag: { type: "string", multiple: true },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

Deno.test("parseArgs() reads options and positionals", async (t) => {
  const cases: { args: string[]; values: Record<string, unknown>; positionals: string[] }[] = [
    { args: ["send", "hi"], values: {}, positionals: ["send", "hi"] },
    { args: ["-t", "builds", "hi"], values: { topic: "builds" }, positionals: ["hi"] },
    { args: ["--topic=builds", "hi"], values: { topic: "builds" }, positionals: ["hi"] },
    { args: ["--topic", "a", "--topic", "b"], values: { topic: "b" }, positionals: [] },
    { args: ["--tag", "a", "--tag=b"], values: { tag: ["a", "b"] }, positionals: [] },
    { args: ["--json", "-h"], values: { json: true, help: true }, positionals: [] },
    { args: ["-", "--", "--json", "-t"], values: {}, positionals: ["-", "--json", "-t"] },
    { args: ["--topic", "--json"], values: { topic: "--json" }, positionals: [] },
    { args: ["--topic="], values: { topic: "" }, positionals: [] },
  ];
  for (const c of cases) {
    await t.step(c.args.join(" "), () => {
      assert.deepEqual(parseArgs(c.args, SPECS), { values: c.values, positionals: c.positionals });
    });
  }
});

Deno.test("parseArgs() rejects what it does not know", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--colour", "red"], /Unknown option '--colour'/],
    [["--colour=red"], /Unknown option '--colour'/],
    [["-x"], /Unknown option '-x'/],
    [["-th"], /Unknown option '-th'/],
    [["--topic"], /Option '--topic' needs a value/],
    [["--json=yes"], /Option '--json' does not take a value/],
  ];
  for (const [args, message] of cases) {
    await t.step(
      args.join(" "),
      () =>
        assert.throws(
          () => parseArgs(args, SPECS),
          (error: Error) => error instanceof UsageError && message.test(error.message),
        ),
    );
  }
});
