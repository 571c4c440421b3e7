import assert from "node:assert/strict";
import { makeDirsFor, removeEmptyDirs, removeIfPresent, writeFileAtomically } from "./files.ts";

Deno.test("removeEmptyDirs() removes empty directories, deepest first, up to the first that is not", async () => {
  const root = await Deno.makeTempDir({ prefix: "hark-files-" });
  try {
    await Deno.mkdir(`${root}/a/b/c`, { recursive: true });
    await Deno.writeTextFile(`${root}/a/keep`, "");
    const removed = await removeEmptyDirs([`${root}/a/b/c`, `${root}/a/b`, `${root}/a`, root]);
    assert.deepEqual(removed, [`${root}/a/b/c`, `${root}/a/b`]);
    assert.equal(await removeIfPresent(`${root}/a/keep`), true);
    assert.equal(await removeIfPresent(`${root}/a/keep`), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "writeFileAtomically() sets the mode exactly, whatever the umask",
  ignore: Deno.build.os === "windows",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "hark-files-" });
    try {
      await writeFileAtomically(`${root}/unit`, new TextEncoder().encode("x"), 0o644);
      assert.equal((await Deno.stat(`${root}/unit`)).mode! & 0o777, 0o644);
      assert.deepEqual([...Deno.readDirSync(root)].map((entry) => entry.name), ["unit"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "makeDirsFor() creates missing directories owned by the account",
  ignore: Deno.build.os === "windows",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "hark-files-" });
    // Only root can give a directory away; anyone can give it to themselves.
    const owner = Deno.uid() === 0 ? { uid: 4242, gid: 4243 } : { uid: Deno.uid()!, gid: Deno.gid()! };
    try {
      await makeDirsFor("linux", `${root}/home/.local/state/hark`, owner, 0o700);
      for (const dir of ["home", "home/.local", "home/.local/state", "home/.local/state/hark"]) {
        const info = await Deno.stat(`${root}/${dir}`);
        assert.deepEqual([info.uid, info.gid, info.mode! & 0o777], [owner.uid, owner.gid, 0o700], dir);
      }
      assert.notEqual((await Deno.stat(root)).uid, Deno.uid() === 0 ? owner.uid : -1);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
