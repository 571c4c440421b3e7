/**
 * The install step cannot fall behind the tests: every program a test runs
 * by name is in .ci/tools (which .ci/run installs from), and under .ci/run
 * a missing one fails instead of skipping.
 */

import assert from "node:assert/strict";
import { TOOL_PACKAGES } from "./helpers/tools.ts";

const ROOT = new URL("../", import.meta.url);
/** Part of every Debian install (Essential: yes), so never installed by .ci/run. */
const ESSENTIAL = new Set(["sh", "bash", "id", "chown", "cat", "tail", "true"]);

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory && !["bench", ".git", "node_modules"].includes(entry.name)) yield* sourceFiles(url);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield url;
  }
}

Deno.test("every program a test runs by name is listed in .ci/tools", async () => {
  const unlisted: string[] = [];
  for (const dir of ["tests/", "lib/", "sinks/"]) {
    for await (const file of sourceFiles(new URL(dir, ROOT))) {
      const path = file.pathname;
      // Tests and their helpers; the agent's own use of programs is its business.
      if (!path.endsWith("_test.ts") && !path.includes("/tests/helpers/")) continue;
      const text = await Deno.readTextFile(file);
      for (const [, program] of text.matchAll(/new Deno\.Command\("([^"/]+)"/g)) {
        if (!ESSENTIAL.has(program) && !TOOL_PACKAGES.has(program)) {
          unlisted.push(`${program} (${path.slice(ROOT.pathname.length)})`);
        }
      }
    }
  }
  assert.deepEqual(unlisted, [], "add these to .ci/tools with their Debian package");
});

Deno.test("haveTools() fails under .ci/run and skips elsewhere when a program is missing", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-tools-" });
  try {
    const probe = `${dir}/probe_test.ts`;
    const helper = new URL("./helpers/tools.ts", import.meta.url).href;
    await Deno.writeTextFile(
      probe,
      `import { haveTools } from "${helper}";\n` +
        `const ok = haveTools("probe", ["dunst", "zsh"]);\n` +
        `Deno.test({ name: "needs dunst", ignore: !ok, fn() {} });\n`,
    );
    // An empty PATH: nothing is installed.
    const run = async (env: Record<string, string>) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["test", "--allow-all", "--no-check", probe],
        env: { NO_COLOR: "1", PATH: dir, ...env },
        clearEnv: false,
      }).output();
      const decoder = new TextDecoder();
      return { code: output.code, text: decoder.decode(output.stdout) + decoder.decode(output.stderr) };
    };

    await t.step("under .ci/run: a failed test that names the packages", async () => {
      const { code, text } = await run({ HARK_TEST_TOOLS: "required" });
      assert.notEqual(code, 0, text);
      assert.match(text, /probe: needs what \.ci\/run installs \.\.\. FAILED/);
      assert.match(text, /dunst, zsh not installed \(apt-get install dunst zsh\)/);
      assert.match(text, /needs dunst \.\.\. ignored/);
    });
    await t.step("elsewhere: a skip with a warning that says what to install", async () => {
      const { code, text } = await run({ HARK_TEST_TOOLS: "" });
      assert.equal(code, 0, text);
      assert.match(text, /SKIPPED probe: dunst, zsh not installed \(apt-get install dunst zsh\)/);
      assert.match(text, /needs dunst \.\.\. ignored/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
