import assert from "node:assert/strict";
import { findOnPath } from "./tools.ts";

const windows = Deno.build.os === "windows";

Deno.test("findOnPath() finds programs as a shell would", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hark-tools-" });
  const other = await Deno.makeTempDir({ prefix: "hark-tools-" });
  try {
    // PATH syntax is the running platform's: these steps use its real files.
    await t.step({
      name: "in a later PATH entry",
      ignore: windows,
      fn: async () => {
        await Deno.writeTextFile(`${dir}/systemctl`, "#!/bin/sh\n", { mode: 0o755 });
        assert.equal(await findOnPath("systemctl", { os: "linux", path: `${other}:${dir}` }), `${dir}/systemctl`);
      },
    });
    await t.step({
      name: "not when the file is not executable",
      ignore: windows,
      fn: async () => {
        await Deno.writeTextFile(`${other}/launchctl`, "not a program");
        await Deno.chmod(`${other}/launchctl`, 0o644);
        assert.equal(await findOnPath("launchctl", { os: "darwin", path: other }), undefined);
      },
    });
    await t.step("not at all", async () => {
      assert.equal(await findOnPath("journalctl", { os: Deno.build.os, path: other }), undefined);
    });
    await t.step({
      name: "on Windows, with an extension from PATHEXT",
      ignore: !windows,
      fn: async () => {
        await Deno.writeTextFile(`${other}\\schtasks.exe`, "");
        const found = await findOnPath("schtasks", { os: "windows", path: `${dir};${other}`, pathExt: ".COM;.EXE" });
        assert.equal(found?.toLowerCase(), `${other}\\schtasks.exe`.toLowerCase());
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});
