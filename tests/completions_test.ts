/**
 * `hark completions` end to end: the real CLI prints each script, the real
 * shells parse it and complete with it. What they must offer is read from
 * the command registry, as the scripts are.
 */

import assert from "node:assert/strict";
import { hark } from "./helpers/hark.ts";
import { COMMANDS, GLOBAL_OPTIONS } from "../lib/cli/commands.ts";
import type { OptionSpecs } from "../lib/cli/args.ts";
import { LOG_LEVELS } from "../lib/log.ts";
import { haveTools } from "./helpers/tools.ts";

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = typeof SHELLS[number];

const ZSH_COMPLETE = new URL("./helpers/zsh_complete.zsh", import.meta.url).pathname;

const POSIX = Deno.build.os !== "windows";
const zsh = POSIX && haveTools("completions_test zsh", ["zsh"]);
const fish = POSIX && haveTools("completions_test fish", ["fish"]);

async function run(program: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // A shell that waits on a terminal must fail the test, not hang it.
  const output = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** The lines of a command's output, sorted, without empty ones. */
function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "").sort();
}

/** Exactly these matches, or (for command names, which depend on the machine) at least this one. */
type Expected = string[] | { includes: string };

function check(matches: string[], expected: Expected): void {
  if (Array.isArray(expected)) assert.deepEqual(matches, expected);
  else assert.ok(matches.includes(expected.includes), `no ${expected.includes} in ${matches.join(" ")}`);
}

/** Each shell's script, written by `hark completions SHELL` into a temporary directory. */
async function writeScripts(dir: string): Promise<Record<Shell, string>> {
  const paths = { bash: `${dir}/hark.bash`, zsh: `${dir}/_hark`, fish: `${dir}/hark.fish` };
  await Promise.all(SHELLS.map(async (shell) => {
    const result = await hark(["completions", shell]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    await Deno.writeTextFile(paths[shell], result.stdout);
  }));
  return paths;
}

const commandNames = COMMANDS.map((entry) => entry.name);
const startingWith = (prefix: string) => commandNames.filter((name) => name.startsWith(prefix)).sort();
const sendOptions: OptionSpecs = (await COMMANDS.find((entry) => entry.name === "send")!.load()).options;
/** `--topic -t`-style flags of some options. */
const flagsOf = (options: OptionSpecs) =>
  Object.entries(options).flatMap(([long, spec]) => spec.short ? [`--${long}`, `-${spec.short}`] : [`--${long}`]);

Deno.test("hark completions scripts name every command and every send option", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-completions-" });
  try {
    const paths = await writeScripts(dir);
    /** How each script writes a command name and an option, so that a mere substring does not count. */
    const written: Record<Shell, { command: (name: string) => RegExp; option: (flag: string) => RegExp }> = {
      bash: {
        command: (name) => new RegExp(`compgen -W "(?:[a-z-]+ )*${name}(?: [a-z-]+)*" -- "\\$cur"`),
        option: (flag) => new RegExp(`send\\) options\\+=" [^"]*(?<= )${flag}(?=[ "])`),
      },
      zsh: {
        command: (name) => new RegExp(`^\\s+'${name}:`, "m"),
        option: (flag) => new RegExp(`^\\s+'(?:\\([^)]*\\)|\\*)?${flag}[+=[]`, "m"),
      },
      fish: {
        command: (name) => new RegExp(`^complete -c hark -n '__hark_needs_command' -a ${name} `, "m"),
        option: (flag) =>
          new RegExp(
            `^complete -c hark -n '__hark_using send' ${flag.startsWith("--") ? "(?:-s \\w )?-l " : "-s "}${
              flag.replace(/^-+/, "")
            } `,
            "m",
          ),
      },
    };
    for (const shell of SHELLS) {
      await t.step(shell, async () => {
        const script = await Deno.readTextFile(paths[shell]);
        for (const name of commandNames) assert.match(script, written[shell].command(name), `command ${name}`);
        for (const flag of flagsOf(sendOptions)) assert.match(script, written[shell].option(flag), `send ${flag}`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hark completions bash: bash parses the script and completes with it", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-completions-" });
  try {
    const { bash } = await writeScripts(dir);
    await Deno.mkdir(`${dir}/files/state`, { recursive: true });
    await Deno.writeTextFile(`${dir}/files/config.toml`, "");

    await t.step("bash -n accepts it", async () => {
      const result = await run("bash", ["-n", bash]);
      assert.equal(result.code, 0, result.stderr);
    });

    /** Sources the script in a non-interactive bash and runs `_hark` on the words; the last one is being completed. */
    const complete = async (words: string[]) => {
      const driver =
        'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _hark; printf "%s\\n" "${COMPREPLY[@]}"';
      const result = await run("bash", ["-c", driver, bash, ...words]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      return lines(result.stdout);
    };
    const cases: { words: string[]; expected: Expected }[] = [
      { words: ["hark", "ne"], expected: startingWith("ne") },
      { words: ["hark", ""], expected: [...commandNames].sort() },
      { words: ["hark", "--state-dir", "/tmp/x", "se"], expected: startingWith("se") },
      { words: ["hark", "network", ""], expected: ["create", "join", "show"] },
      { words: ["hark", "network", "create", ""], expected: [] },
      { words: ["hark", "completions", ""], expected: ["bash", "fish", "zsh"] },
      { words: ["hark", "send", "--to"], expected: ["--topic"] },
      { words: ["hark", "send", "-"], expected: [...flagsOf(sendOptions), ...flagsOf(GLOBAL_OPTIONS)].sort() },
      { words: ["hark", "send", "-t", ""], expected: [] },
      { words: ["hark", "send", "-p", "h"], expected: ["high"] },
      { words: ["hark", "--log-level", ""], expected: [...LOG_LEVELS].sort() },
      // `--log-level=de`: bash splits words at the =.
      { words: ["hark", "--log-level", "=", "de"], expected: ["debug"] },
      { words: ["hark", "--config", `${dir}/files/con`], expected: [`${dir}/files/config.toml`] },
      { words: ["hark", "--state-dir", `${dir}/files/`], expected: [`${dir}/files/state`] },
      { words: ["hark", "run", "--log-file", `${dir}/files/c`], expected: [`${dir}/files/config.toml`] },
      { words: ["hark", "wrap", "-t", "builds", "--", "ech"], expected: { includes: "echo" } },
      { words: ["hark", "send", "--", "-"], expected: [] },
    ];
    for (const c of cases) {
      await t.step(c.words.join(" ") + "<TAB>", async () => {
        check(await complete(c.words), c.expected);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hark completions zsh: zsh parses the script and completes with it",
  ignore: !zsh,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hark-completions-" });
    try {
      const { zsh } = await writeScripts(dir);
      await t.step("zsh -n accepts it", async () => {
        const result = await run("zsh", ["-n", zsh]);
        assert.equal(result.code, 0, result.stderr);
      });
      const cases: { text: string; expected: Expected }[] = [
        { text: "hark ne", expected: startingWith("ne") },
        { text: "hark ", expected: [...commandNames].sort() },
        { text: "hark network ", expected: ["create", "join", "show"] },
        { text: "hark wrap -t builds -- ech", expected: { includes: "echo" } },
        { text: "hark completions ", expected: ["bash", "fish", "zsh"] },
        { text: "hark send --to", expected: ["--topic"] },
        { text: "hark --log-level=de", expected: ["--log-level=debug"] },
        { text: "hark send -p ", expected: ["1", "2", "3", "4", "5", "default", "high", "low", "min", "urgent"] },
      ];
      for (const c of cases) {
        await t.step(`${c.text}<TAB>`, async () => {
          const result = await run("zsh", [ZSH_COMPLETE, dir, `${dir}/zcompdump`, c.text]);
          assert.equal(result.code, 0, result.stderr);
          check(lines(result.stdout), c.expected);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "hark completions fish: fish parses the script and completes with it",
  ignore: !fish,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hark-completions-" });
    try {
      const { fish } = await writeScripts(dir);
      await t.step("fish --no-execute accepts it", async () => {
        const result = await run("fish", ["--no-execute", fish]);
        assert.equal(result.code, 0, result.stderr);
      });
      const cases: { text: string; expected: Expected }[] = [
        { text: "hark ne", expected: startingWith("ne") },
        { text: "hark ", expected: [...commandNames].sort() },
        { text: "hark --config x.toml ne", expected: startingWith("ne") },
        { text: "hark wrap -t builds -- ech", expected: { includes: "echo" } },
        { text: "hark network ", expected: ["create", "join", "show"] },
        { text: "hark network create ", expected: [] },
        { text: "hark completions ", expected: ["bash", "fish", "zsh"] },
        { text: "hark send --to", expected: ["--topic"] },
        { text: "hark --log-level ", expected: [...LOG_LEVELS].sort() },
        { text: "hark send -t ", expected: [] },
      ];
      for (const c of cases) {
        await t.step(`${c.text}<TAB>`, async () => {
          // `complete -C` prints each match, then a tab and its description.
          const result = await run("fish", [
            "--no-config",
            "-c",
            `source $argv[1]; complete -C $argv[2]`,
            fish,
            c.text,
          ]);
          assert.equal(result.code, 0, result.stderr);
          check(lines(result.stdout).map((line) => line.split("\t")[0]), c.expected);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("hark completions refuses a shell it does not know, naming the ones it does", async (t) => {
  const cases: { args: string[]; error: RegExp }[] = [
    {
      args: ["completions", "powershell"],
      error: /^hark: cannot complete for shell "powershell"; use bash, zsh, fish$/,
    },
    { args: ["completions"], error: /^hark: completions needs a shell: bash, zsh, fish$/ },
    { args: ["completions", "bash", "zsh"], error: /^hark: completions takes one shell/ },
  ];
  for (const c of cases) {
    await t.step(c.args.join(" "), async () => {
      const result = await hark(c.args);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, "");
      assert.match(result.stderr.trim(), c.error);
    });
  }
});

Deno.test("every command's --help has examples", async (t) => {
  const results = await Promise.all(commandNames.map((name) => hark([name, "--help"])));
  for (const [i, name] of commandNames.entries()) {
    await t.step(name, () => {
      const { code, stdout, stderr } = results[i];
      assert.equal(code, 0, stderr);
      const examples = stdout.split("\nExamples:\n")[1];
      assert.ok(examples !== undefined, `hark ${name} --help has no "Examples:" section`);
      const count = examples.split("\n\n")[0].split("\n").filter((line) => line.trim() !== "").length;
      assert.ok(count >= 2, `hark ${name} --help has ${count} example(s); give at least two`);
    });
  }
});
