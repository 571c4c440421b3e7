/**
 * From a source checkout, `deno task install` (the README's one line) puts a
 * `hark` command on the PATH that runs this checkout with the flags of
 * `deno task start`.
 */

import assert from "node:assert/strict";
import { VERSION } from "../lib/version.ts";
import { denoConfig } from "./helpers/deno_config.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("deno task install puts a working hark command in DENO_INSTALL_ROOT", async () => {
  const root = await Deno.makeTempDir({ prefix: "hark-install-root-" });
  try {
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install"],
      cwd: ROOT,
      env: { DENO_INSTALL_ROOT: root },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
    const shim = await Deno.readTextFile(`${root}/bin/hark`);
    const start = (await denoConfig()).tasks.start;
    for (const flag of start.split(" ").filter((word) => word.startsWith("--"))) {
      assert.ok(shim.includes(flag), `the installed command runs with ${flag}, as \`deno task start\` does`);
    }
    // Run from elsewhere, as a user would once bin/ is on PATH.
    const version = await new Deno.Command(`${root}/bin/hark`, {
      args: ["--version"],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(version.code, 0, new TextDecoder().decode(version.stderr));
    assert.match(new TextDecoder().decode(version.stdout), new RegExp(`^hark ${VERSION.replaceAll(".", "\\.")} `));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the README's install from source is the task that exists", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  assert.match(readme, /deno task install/);
  const { tasks } = await denoConfig();
  assert.match(tasks.install, /^deno install --global .*--name hark .*main\.ts$/);
});
