import assert from "node:assert/strict";
import { absolutePath, baseName, isInside, joinPath, parentDir } from "./platform_path.ts";

Deno.test("absolutePath() resolves against the directory and tidies the result", async (t) => {
  const cases: { name: string; os: string; cwd: string; path: string; expected: string }[] = [
    { name: "relative", os: "linux", cwd: "/home/ann", path: "st", expected: "/home/ann/st" },
    { name: "dot segments", os: "linux", cwd: "/home/ann", path: "./a/../b//c", expected: "/home/ann/b/c" },
    { name: "absolute stays", os: "linux", cwd: "/x", path: "/srv/a b", expected: "/srv/a b" },
    { name: "never above the root", os: "linux", cwd: "/", path: "../../etc", expected: "/etc" },
    {
      name: "windows relative",
      os: "windows",
      cwd: "C:\\Users\\ann",
      path: "st\\x",
      expected: "C:\\Users\\ann\\st\\x",
    },
    { name: "windows forward slashes", os: "windows", cwd: "C:\\", path: "D:/a/./b", expected: "D:\\a\\b" },
    { name: "windows drive root", os: "windows", cwd: "C:\\a", path: "..\\..", expected: "C:\\" },
    { name: "windows UNC", os: "windows", cwd: "C:\\", path: "\\\\srv\\share\\x", expected: "\\\\srv\\share\\x" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(absolutePath(c.os, c.cwd, c.path), c.expected));
  }
});

Deno.test("joinPath(), parentDir(), baseName() and isInside() follow the named platform", () => {
  assert.equal(joinPath("linux", "/a/", "b", "c"), "/a/b/c");
  assert.equal(joinPath("windows", "C:\\a", "b"), "C:\\a\\b");
  assert.equal(parentDir("linux", "/a/b"), "/a");
  assert.equal(parentDir("linux", "/a"), "/");
  assert.equal(parentDir("windows", "C:\\a\\b"), "C:\\a");
  assert.equal(baseName("C:\\deno\\deno.exe"), "deno.exe");
  assert.equal(isInside("linux", "/st/logs", "/st"), true);
  assert.equal(isInside("linux", "/state", "/st"), false);
  assert.equal(isInside("windows", "c:\\ST\\x", "C:\\st"), true);
});
