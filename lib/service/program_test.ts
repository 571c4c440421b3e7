import assert from "node:assert/strict";
import {
  agentCommand,
  filePathOf,
  HARK_LAZY_IMPORTS_FLAG,
  HARK_UNSTABLE_FLAG,
  HARK_V8_FLAGS,
  harkProgram,
  optionValue,
} from "./program.ts";

Deno.test("harkProgram() runs the compiled binary itself, or deno with main.ts", async (t) => {
  const cases: { name: string; os: string; execPath: string; mainModule: string; expected: string[] }[] = [
    {
      name: "compiled",
      os: "linux",
      execPath: "/usr/local/bin/hark",
      mainModule: "file:///tmp/deno-compile-hark/main.ts",
      expected: ["/usr/local/bin/hark"],
    },
    {
      name: "deno run",
      os: "linux",
      execPath: "/usr/bin/deno",
      mainModule: "file:///home/ann/hark%20src/main.ts",
      expected: [
        "/usr/bin/deno",
        "run",
        "--allow-all",
        `--v8-flags=${HARK_V8_FLAGS}`,
        HARK_UNSTABLE_FLAG,
        HARK_LAZY_IMPORTS_FLAG,
        "/home/ann/hark src/main.ts",
      ],
    },
    {
      name: "deno run on Windows",
      os: "windows",
      execPath: "C:\\deno\\deno.exe",
      mainModule: "file:///C:/Users/Ann%20Lee/hark/main.ts",
      expected: [
        "C:\\deno\\deno.exe",
        "run",
        "--allow-all",
        `--v8-flags=${HARK_V8_FLAGS}`,
        HARK_UNSTABLE_FLAG,
        HARK_LAZY_IMPORTS_FLAG,
        "C:\\Users\\Ann Lee\\hark\\main.ts",
      ],
    },
    {
      name: "deno with remote code cannot name a file",
      os: "linux",
      execPath: "/usr/bin/deno",
      mainModule: "https://example.org/main.ts",
      expected: ["/usr/bin/deno"],
    },
  ];
  for (const c of cases) await t.step(c.name, () => assert.deepEqual(harkProgram(c), c.expected));
});

Deno.test("filePathOf() keeps a UNC server", () => {
  assert.equal(filePathOf("windows", "file://server/share/main.ts"), "\\\\server\\share\\main.ts");
});

Deno.test("agentCommand() names the config only when given and the log level only when not info", () => {
  assert.deepEqual(agentCommand(["/h"], { stateDir: "/s", logFile: "/s/hark.log", logLevel: "info" }), [
    "/h",
    "run",
    "--state-dir",
    "/s",
    "--log-file",
    "/s/hark.log",
  ]);
  const full = agentCommand(["/h"], { stateDir: "/s", config: "/c.toml", logFile: "/l", logLevel: "debug" });
  assert.deepEqual(full, [
    "/h",
    "run",
    "--state-dir",
    "/s",
    "--config",
    "/c.toml",
    "--log-file",
    "/l",
    "--log-level",
    "debug",
  ]);
  assert.equal(optionValue(full, "--config"), "/c.toml");
  assert.equal(optionValue(full, "--nope"), undefined);
});
