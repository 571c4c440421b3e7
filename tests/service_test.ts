/**
 * `hark service`: the definitions it writes (golden files, parsed by the
 * platforms' own tools where they are here), and install → status →
 * uninstall on all three platforms against stand-in service managers that
 * record how they were called. On Linux the real CLI runs as a process.
 */

import assert from "node:assert/strict";
import { installService, serviceState, uninstallService } from "../lib/service/mod.ts";
import type { ServiceHost } from "../lib/service/host.ts";
import { pathRunner } from "../lib/service/host.ts";
import type { ServicePlan } from "../lib/service/manager.ts";
import { HARK_LAZY_IMPORTS_FLAG, HARK_UNSTABLE_FLAG, HARK_V8_FLAGS } from "../lib/service/program.ts";
import { execStartOf, systemdUnit } from "../lib/service/systemd_unit.ts";
import { launchdPlist, plistArguments } from "../lib/service/launchd_plist.ts";
import { parseWindowsArguments, taskXmlBytes, windowsTaskXml } from "../lib/service/windows_task_xml.ts";
import { windowsTaskManager } from "../lib/service/windows_task.ts";
import { waitFor } from "./helpers/wait.ts";
import { denoDir } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const GOLDEN = new URL("./golden/", import.meta.url).pathname;
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Helpers

/** Runs a program to completion; undefined when it is not installed. */
async function run(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string } | undefined> {
  try {
    const output = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...options,
    })
      .output();
    return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Compares `text` with a golden file; HARK_UPDATE_GOLDEN=1 rewrites the file instead. */
async function assertGolden(name: string, text: string): Promise<void> {
  const path = GOLDEN + name;
  if (Deno.env.get("HARK_UPDATE_GOLDEN") === "1") await Deno.writeTextFile(path, text);
  assert.equal(text, await Deno.readTextFile(path), `differs from tests/golden/${name}`);
}

/**
 * Stand-ins for systemctl, launchctl, schtasks and friends, first on PATH:
 * each records its argv, keeps a copy of every file it is given, and answers
 * with the first canned response whose glob pattern matches "tool args…"
 * (exit 0 and no output when none does). A response can be used once.
 */
class StubTools {
  readonly dir: string;
  readonly bin: string;
  #responses = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.bin = `${dir}/bin`;
  }

  static async create(tools: string[]): Promise<StubTools> {
    const stubs = new StubTools(await Deno.makeTempDir({ prefix: "hark-stubs-" }));
    for (const sub of ["bin", "files", "responses"]) await Deno.mkdir(`${stubs.dir}/${sub}`);
    await Deno.writeTextFile(`${stubs.dir}/calls`, "");
    // bash 3.2 compatible: macOS runs these too.
    const script = `#!/bin/bash
PATH=/usr/bin:/bin
stub='${stubs.dir}'
name=\${0##*/}
{ printf '%s' "$name"; for arg in "$@"; do printf '\\037%s' "$arg"; done; printf '\\n'; } >> "$stub/calls"
for arg in "$@"; do
  if [ -f "$arg" ]; then cp "$arg" "$stub/files/\${arg##*/}"; fi
done
key="$name $*"
for response in "$stub"/responses/*; do
  [ -f "$response" ] || continue
  IFS= read -r pattern < "$response"
  if [[ $key == $pattern ]]; then
    code=$(sed -n 2p "$response")
    tail -n +3 "$response"
    case "$response" in *.once) rm -f "$response" ;; esac
    exit "$code"
  fi
done
exit 0
`;
    for (const tool of tools) await Deno.writeTextFile(`${stubs.bin}/${tool}`, script, { mode: 0o755 });
    return stubs;
  }

  /** Answers calls matching `pattern` (a bash glob over "tool arg arg…"); `once` ones come first and are used up. */
  async respond(pattern: string, code: number, stdout = "", once = false): Promise<void> {
    const name = `${once ? 0 : 1}-${String(this.#responses++).padStart(4, "0")}${once ? ".once" : ""}`;
    await Deno.writeTextFile(`${this.dir}/responses/${name}`, `${pattern}\n${code}\n${stdout}`);
  }

  async clearResponses(): Promise<void> {
    for await (const entry of Deno.readDir(`${this.dir}/responses`)) {
      await Deno.remove(`${this.dir}/responses/${entry.name}`);
    }
  }

  /** Every call so far, as argv with the tool's name first; `clear` starts a new record. */
  async calls(clear = true): Promise<string[][]> {
    const text = await Deno.readTextFile(`${this.dir}/calls`);
    if (clear) await Deno.writeTextFile(`${this.dir}/calls`, "");
    return text.split("\n").filter(Boolean).map((line) => line.split("\x1f"));
  }

  /** A file a tool was given, as it was then. */
  file(name: string): Promise<Uint8Array> {
    return Deno.readFile(`${this.dir}/files/${name}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** Every path under `root`, with d/f/l for its type, sorted. */
async function tree(root: string): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = prefix + entry.name;
      paths.push(`${entry.isDirectory ? "d" : entry.isSymlink ? "l" : "f"} ${path}`);
      if (entry.isDirectory) await walk(`${dir}/${entry.name}`, `${path}/`);
    }
  };
  await walk(root, "");
  return paths.sort();
}

/** A host on `os` whose tools are the stubs, with this environment and nothing else. */
function stubHost(os: string, stubs: StubTools, env: Record<string, string>, extra: Partial<ServiceHost> = {}) {
  const environment = { PATH: stubs.bin, ...env };
  const lookup = (name: string) => environment[name as keyof typeof environment];
  return {
    os,
    env: lookup,
    uid: 501,
    execPath: "/opt/Hark & Co/bin/hark",
    mainModule: "file:///opt/Hark%20&%20Co/src/main.ts",
    cwd: env.HOME ?? "/",
    // Tools are looked up by this machine's rules: the stubs are real files here.
    run: pathRunner(Deno.build.os, lookup),
    systemUnitDir: "/nonexistent/etc/systemd/system",
    makeTempDir: () => Deno.makeTempDir({ prefix: "hark-service-xml-" }),
    ...extra,
  } satisfies ServiceHost;
}

async function tempHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "hark-home-" });
  // What every real home has; install must not depend on more.
  await Deno.mkdir(`${home}/.config`);
  await Deno.mkdir(`${home}/Library`);
  return home;
}

const linux = Deno.build.os === "linux";
const python = linux ? haveTools("service_test plist and task XML parsing", ["python3"]) : await parsesXml();
const systemdAnalyze = linux && haveTools("service_test systemd-analyze verify", ["systemd-analyze"]);

/** Off Linux, python3 with plistlib is used where it happens to be installed. */
async function parsesXml(): Promise<boolean> {
  const ok = (await run("python3", ["-c", "import plistlib, xml.dom.minidom"]))?.code === 0;
  if (!ok) console.warn("SKIPPED parts of service_test: python3 with plistlib is not installed");
  return ok;
}

// ---------------------------------------------------------------------------
// Definitions: golden files, checked by the platforms' parsers

/** Paths with spaces, `&`, `$` and `%`: each format must carry them through its own escaping. */
const ODD_STATE = "/home/ann/My Files & $pecial 100%/hark";
const USER_PLAN: ServicePlan = {
  argv: [
    "/opt/Hark & Co/bin/hark",
    "run",
    "--state-dir",
    ODD_STATE,
    "--config",
    "/home/ann/.config/hark/config.toml",
    "--log-file",
    `${ODD_STATE}/hark.log`,
  ],
  stateDir: ODD_STATE,
  logFile: `${ODD_STATE}/hark.log`,
  sandbox: { writable: ["/srv/hark events"], sharedTmp: [] },
};
const SYSTEM_PLAN: ServicePlan = {
  argv: [
    "/usr/local/bin/hark",
    "run",
    "--state-dir",
    "/home/ann/.local/state/hark",
    "--log-file",
    "/home/ann/.local/state/hark/hark.log",
  ],
  stateDir: "/home/ann/.local/state/hark",
  logFile: "/home/ann/.local/state/hark/hark.log",
  sandbox: { writable: ["/tmp"], sharedTmp: ["/tmp/alert"] },
  account: { name: "ann", uid: 1000, gid: 1000, home: "/home/ann" },
};
const MAC_ARGV = [
  "/Applications/Hark & Co/hark",
  "run",
  "--state-dir",
  "/Users/ann/Library/Application Support/hark",
  "--log-file",
  "/Users/ann/Library/Application Support/hark/hark.log",
];
const WINDOWS_ARGV = [
  "C:\\Program Files\\Hark & Co\\hark.exe",
  "run",
  "--state-dir",
  "C:\\Users\\Ann & Bob\\AppData\\Local\\hark",
  "--log-file",
  "C:\\Users\\Ann & Bob\\AppData\\Local\\hark\\hark.log",
];

Deno.test("the systemd units match their golden files and read back the same argv", async () => {
  const user = systemdUnit(USER_PLAN, "user");
  await assertGolden("hark.service", user);
  assert.deepEqual(execStartOf(user), USER_PLAN.argv);
  const system = systemdUnit(SYSTEM_PLAN, "system");
  await assertGolden("hark-system.service", system);
  assert.deepEqual(execStartOf(system), SYSTEM_PLAN.argv);
});

Deno.test({
  name: "systemd-analyze verify accepts the user and the system unit",
  ignore: !systemdAnalyze,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hark-verify-" });
    try {
      // verify checks that ExecStart's program exists: a real one, at a path that needs quoting.
      const program = `${dir}/Hark & Co $x 100%/hark`;
      await Deno.mkdir(`${dir}/Hark & Co $x 100%`);
      await Deno.writeTextFile(program, "#!/bin/sh\n", { mode: 0o755 });
      await Deno.mkdir(`${dir}/runtime`, { mode: 0o700 });
      await Deno.chmod(`${dir}/runtime`, 0o700);
      const cases = [
        { name: "user", plan: USER_PLAN, scope: "user" as const, args: ["--user"] },
        { name: "system", plan: SYSTEM_PLAN, scope: "system" as const, args: [] },
      ];
      for (const c of cases) {
        await t.step(c.name, async () => {
          await Deno.mkdir(`${dir}/${c.name}`);
          const unit = `${dir}/${c.name}/hark.service`;
          await Deno.writeTextFile(unit, systemdUnit({ ...c.plan, argv: [program, ...c.plan.argv.slice(1)] }, c.scope));
          const result = await run("systemd-analyze", ["verify", ...c.args, unit], {
            env: { XDG_RUNTIME_DIR: `${dir}/runtime` },
          });
          assert.equal(result?.code, 0, result?.stderr ?? "the tool is missing");
          // Unknown keys and bad values are only printed, with exit status 0.
          assert.equal(result?.stderr.trim(), "", result?.stderr ?? "");
        });
      }
      await t.step("and notices a program that does not exist (so the check above means something)", async () => {
        const unit = `${dir}/user/hark.service`;
        await Deno.writeTextFile(unit, systemdUnit({ ...USER_PLAN, argv: [`${dir}/Hark & Co/nothing`] }, "user"));
        const result = await run("systemd-analyze", ["verify", "--user", unit], {
          env: { XDG_RUNTIME_DIR: `${dir}/runtime` },
        });
        assert.notEqual(result?.code, 0);
        assert.match(result?.stderr ?? "", /Hark & Co\/nothing is not executable/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the launchd plist matches its golden file", async (t) => {
  const plist = launchdPlist({
    argv: MAC_ARGV,
    stdoutPath: "/Users/ann/Library/Logs/hark/stdout.log",
    stderrPath: "/Users/ann/Library/Logs/hark/stderr.log",
  });
  await assertGolden("org.hark.agent.plist", plist);
  assert.deepEqual(plistArguments(plist), MAC_ARGV);
  await t.step({
    name: "and Python's plistlib reads the same values",
    ignore: !python,
    fn: async () => {
      const result = await run("python3", [
        "-c",
        "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))",
        `${GOLDEN}org.hark.agent.plist`,
      ]);
      assert.equal(result?.code, 0, result?.stderr ?? "the tool is missing");
      assert.deepEqual(JSON.parse(result!.stdout), {
        Label: "org.hark.agent",
        ProgramArguments: MAC_ARGV,
        RunAtLoad: true,
        KeepAlive: { SuccessfulExit: false },
        ThrottleInterval: 10,
        StandardOutPath: "/Users/ann/Library/Logs/hark/stdout.log",
        StandardErrorPath: "/Users/ann/Library/Logs/hark/stderr.log",
      });
    },
  });
});

Deno.test("the Windows task matches its golden file", async (t) => {
  const xml = windowsTaskXml({ argv: WINDOWS_ARGV, userId: "PC\\ann" });
  await assertGolden("hark-task.xml", xml);
  await t.step({
    name: "and Python's XML parser reads the UTF-16 file schtasks gets",
    ignore: !python,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "hark-xml-" });
      try {
        await Deno.writeFile(`${dir}/task.xml`, taskXmlBytes(xml));
        const script = `import json, sys
from xml.dom import minidom
document = minidom.parse(sys.argv[1])
text = lambda tag: [node.firstChild.data for node in document.getElementsByTagName(tag)]
print(json.dumps({tag: text(tag) for tag in ["Command", "Arguments", "UserId", "ExecutionTimeLimit", "MultipleInstancesPolicy", "Interval", "Count"]}))`;
        const result = await run("python3", ["-c", script, `${dir}/task.xml`]);
        assert.equal(result?.code, 0, result?.stderr ?? "the tool is missing");
        const parsed = JSON.parse(result!.stdout);
        assert.deepEqual(parsed.Command, [WINDOWS_ARGV[0]]);
        assert.deepEqual(parseWindowsArguments(parsed.Arguments[0]), WINDOWS_ARGV.slice(1));
        assert.deepEqual(parsed.UserId, ["PC\\ann", "PC\\ann"]);
        assert.deepEqual(parsed.ExecutionTimeLimit, ["PT0S"]);
        assert.deepEqual(parsed.MultipleInstancesPolicy, ["IgnoreNew"]);
        assert.deepEqual([parsed.Interval, parsed.Count], [["PT1M"], ["999"]]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
});

// ---------------------------------------------------------------------------
// Linux, end to end: the real CLI against stand-in systemctl, loginctl and journalctl

/** Where deno keeps its cache, so a subprocess with another HOME does not download everything again. */

const SHOW = "systemctl --user show hark.service *";
const properties = (active: string, sub: string, file: string) =>
  `LoadState=loaded\nActiveState=${active}\nSubState=${sub}\nUnitFileState=${file}\n`;

Deno.test({
  name: "hark service install, status and uninstall drive systemctl --user and leave nothing behind",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    await using stubs = await StubTools.create(["systemctl", "loginctl", "journalctl"]);
    const home = await tempHome();
    // A machine that runs systemd, whatever this one runs (lib/service/init_system.ts).
    const systemRoot = `${home}/.system-root`;
    await Deno.mkdir(`${systemRoot}/run/systemd/system`, { recursive: true });
    const cli = async (args: string[]) => {
      const result = await run(Deno.execPath(), ["run", "--allow-all", "--quiet", MAIN, "service", ...args], {
        clearEnv: true,
        cwd: home,
        env: {
          HOME: home,
          XDG_CONFIG_HOME: `${home}/.config`,
          PATH: stubs.bin,
          USER: "ann",
          DENO_DIR: denoDir(),
          HARK_SYSTEM_ROOT: systemRoot,
        },
      });
      return result!;
    };
    const unit = `${home}/.config/systemd/user/hark.service`;
    const stateDir = `${home}/.local/state/hark`;
    const before = await tree(home);
    try {
      await t.step("install writes the unit, reloads, enables and starts it, and warns about lingering", async () => {
        await stubs.respond("systemctl --user is-active --quiet hark.service", 3);
        await stubs.respond("loginctl show-user ann -p Linger", 0, "Linger=no\n");
        const result = await cli(["install"]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await stubs.calls(), [
          ["systemctl", "--user", "is-active", "--quiet", "hark.service"],
          ["systemctl", "--user", "daemon-reload"],
          ["systemctl", "--user", "enable", "--now", "hark.service"],
          ["loginctl", "show-user", "ann", "-p", "Linger"],
        ]);
        assert.deepEqual(execStartOf(await Deno.readTextFile(unit)), [
          Deno.execPath(),
          "run",
          "--allow-all",
          `--v8-flags=${HARK_V8_FLAGS}`,
          HARK_UNSTABLE_FLAG,
          HARK_LAZY_IMPORTS_FLAG,
          MAIN,
          "run",
          "--state-dir",
          stateDir,
          "--log-file",
          `${stateDir}/hark.log`,
        ]);
        assert.equal((await Deno.stat(stateDir)).mode! & 0o777, 0o700);
        assert.match(result.stdout, new RegExp(`^Wrote ${unit}\\.$`, "m"));
        assert.match(result.stdout, /^Enabled and started hark\.service/m);
        assert.match(result.stdout, /^warning: Lingering is off.*loginctl enable-linger$/m);
        assert.match(result.stdout, /^ {2}hark service status$/m);
        assert.match(result.stdout, /^ {2}systemctl --user status hark$/m);
      });

      await t.step("status of a running service exits 0 and shows the command and the logs", async () => {
        await stubs.clearResponses();
        await stubs.respond(SHOW, 0, properties("active", "running", "enabled"));
        await stubs.respond("journalctl *", 0, "Nov 22 hark[1]: started\n");
        await Deno.writeTextFile(`${stateDir}/hark.log`, "2026-11-22 [INF] hark·agent: running\n");
        const json = await cli(["status", "--json"]);
        assert.equal(json.code, 0, json.stderr);
        const state = JSON.parse(json.stdout);
        assert.deepEqual(
          [state.manager, state.scope, state.path, state.installed, state.enabled, state.running, state.status],
          ["systemd", "user", unit, true, true, true, "active (running)"],
        );
        assert.equal(state.stateDir, stateDir);
        assert.deepEqual(state.logs, [
          { source: `${stateDir}/hark.log`, lines: ["2026-11-22 [INF] hark·agent: running"] },
          { source: "journalctl --user -u hark.service", lines: ["Nov 22 hark[1]: started"] },
        ]);
        assert.deepEqual(await stubs.calls(), [
          ["systemctl", "--user", "show", "hark.service", "--property=LoadState,ActiveState,SubState,UnitFileState"],
          ["journalctl", "--user", "-u", "hark.service", "-n", "10", "--no-pager", "-q"],
        ]);
        const text = await cli(["status"]);
        assert.equal(text.code, 0);
        assert.match(text.stdout, /^ {2}running {5}yes \(active \(running\)\)$/m);
        assert.match(text.stdout, /^ {2}command {5}.* run --state-dir .*hark --log-file .*hark\.log$/m);
      });

      await t.step("status of a stopped service exits 1 and says how to start it", async () => {
        await stubs.clearResponses();
        await stubs.respond(SHOW, 0, properties("failed", "failed", "enabled"));
        await stubs.respond("journalctl *", 1);
        const result = await cli(["status"]);
        assert.equal(result.code, 1);
        assert.match(result.stdout, /^ {2}running {5}no \(failed \(failed\)\)$/m);
        assert.match(result.stdout, /Not running\. .*`systemctl --user restart hark\.service`/);
        await stubs.calls();
      });

      await t.step("install again restarts the running service", async () => {
        await stubs.clearResponses();
        await stubs.respond("systemctl --user is-active --quiet hark.service", 0);
        await stubs.respond("loginctl *", 0, "Linger=yes\n");
        const result = await cli(["install"]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual((await stubs.calls()).map((call) => call.slice(0, 3).join(" ")), [
          "systemctl --user is-active",
          "systemctl --user daemon-reload",
          "systemctl --user enable",
          "systemctl --user restart",
          "loginctl show-user ann",
        ]);
        assert.match(result.stdout, /was already up to date/);
        assert.doesNotMatch(result.stdout, /warning/);
      });

      await t.step("uninstall stops, disables and removes the unit and keeps the state dir", async () => {
        await stubs.clearResponses();
        await stubs.respond(SHOW, 0, properties("active", "running", "enabled"));
        const result = await cli(["uninstall"]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await stubs.calls(), [
          ["systemctl", "--user", "show", "hark.service", "--property=LoadState,ActiveState,SubState,UnitFileState"],
          ["systemctl", "--user", "stop", "hark.service"],
          ["systemctl", "--user", "disable", "hark.service"],
          ["systemctl", "--user", "daemon-reload"],
          ["systemctl", "--user", "reset-failed", "hark.service"],
        ]);
        assert.match(result.stdout, new RegExp(`^Removed ${unit}\\.$`, "m"));
        assert.match(result.stdout, new RegExp(`^Kept the state dir ${stateDir} `, "m"));
        // Only the agent's own data stays.
        const kept = [".local", ".local/state", ".local/state/hark", ".local/state/hark/hark.log"];
        assert.deepEqual(
          (await tree(home)).filter((entry) => !kept.includes(entry.slice(2))),
          before,
        );
      });

      await t.step("status after uninstall exits 1 and says how to install", async () => {
        await stubs.clearResponses();
        await stubs.respond(SHOW, 0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n");
        const result = await cli(["status"]);
        assert.equal(result.code, 1);
        assert.match(result.stdout, /^ {2}installed {3}no$/m);
        assert.match(result.stdout, /Not installed\. Run `hark service install`/);
      });

      await t.step("uninstall when nothing is installed says so", async () => {
        const result = await cli(["uninstall"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^hark\.service was not installed; nothing to remove\.$/m);
      });

      await t.step("usage errors exit 2 and --help has examples", async () => {
        for (const args of [["bogus"], [], ["status", "extra"], ["status", "--user", "bob"]]) {
          const result = await cli(args);
          assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
          assert.match(result.stderr, /^hark: /);
        }
        const help = await cli(["--help"]);
        assert.equal(help.code, 0);
        assert.match(help.stdout, /^Examples:\n {2}hark service install/m);
      });

      await t.step("when systemctl cannot reach the user manager, install changes nothing", async () => {
        await stubs.clearResponses();
        await stubs.respond("systemctl --user is-active *", 1);
        const snapshot = await tree(home);
        const result = await cli(["install"]);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /^hark: systemctl --user is-active --quiet hark\.service failed: .*not through sudo or su/,
        );
        assert.match(result.stderr, /Nothing was changed\.$/m);
        assert.deepEqual(await tree(home), snapshot);
        await stubs.calls();
      });

      await t.step("without systemctl, install fails clearly and writes nothing", async () => {
        await Deno.remove(`${stubs.bin}/systemctl`);
        const snapshot = await tree(home);
        const result = await cli(["install"]);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /^hark: cannot run systemctl: it is not on PATH\. On Linux, hark service needs systemd/,
        );
        assert.deepEqual(await tree(home), snapshot);
        const status = await cli(["status", "--json"]);
        assert.equal(status.code, 1);
        assert.deepEqual(JSON.parse(status.stdout).notes, [
          "cannot run systemctl: it is not on PATH. On Linux, hark service needs systemd. Without it, start `hark run --log-file FILE` from your init system or your session's start-up programs.",
        ]);
      });
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------
// Through the library, with the platform injected

Deno.test("a machine-wide systemd service runs as the sudo caller, with a state dir in their home", async (t) => {
  await using stubs = await StubTools.create(["systemctl", "getent", "journalctl"]);
  const root = await Deno.makeTempDir({ prefix: "hark-system-" });
  // Only root can hand a directory to someone else; others can to themselves.
  const owner = Deno.uid() === 0 ? { uid: 4242, gid: 4243 } : { uid: Deno.uid()!, gid: Deno.gid()! };
  await Deno.mkdir(`${root}/etc`);
  await Deno.mkdir(`${root}/home/ann`, { recursive: true });
  const host = stubHost("linux", stubs, { SUDO_USER: "ann", HOME: "/root" }, {
    uid: 0,
    systemUnitDir: `${root}/etc`,
  });
  try {
    await t.step("install", async () => {
      await stubs.respond("getent passwd ann", 0, `ann:x:${owner.uid}:${owner.gid}:Ann:${root}/home/ann:/bin/bash\n`);
      await stubs.respond("systemctl is-active *", 3);
      const result = await installService({ system: true }, host);
      assert.deepEqual(await stubs.calls(), [
        ["getent", "passwd", "ann"],
        ["systemctl", "is-active", "--quiet", "hark.service"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "hark.service"],
      ]);
      const unit = await Deno.readTextFile(`${root}/etc/hark.service`);
      assert.match(unit, /^User=ann$/m);
      assert.match(unit, /^WantedBy=multi-user\.target$/m);
      const stateDir = `${root}/home/ann/.local/state/hark`;
      assert.deepEqual(execStartOf(unit)?.slice(-4), ["--state-dir", stateDir, "--log-file", `${stateDir}/hark.log`]);
      for (const dir of [".local", ".local/state", ".local/state/hark"]) {
        const info = await Deno.stat(`${root}/home/ann/${dir}`);
        assert.deepEqual([info.uid, info.gid], [owner.uid, owner.gid], dir);
      }
      assert.deepEqual(result.next, ["hark service status --system", "systemctl status hark", "journalctl -u hark"]);
      assert.deepEqual(result.warnings, []);
    });
    await t.step("status needs no root", async () => {
      await stubs.respond("systemctl show *", 0, properties("active", "running", "enabled"));
      const state = await serviceState({ system: true }, { ...host, uid: 1000 });
      assert.deepEqual([state.scope, state.installed, state.enabled, state.running], ["system", true, true, true]);
      assert.deepEqual((await stubs.calls()).map((call) => call[1]), ["show", "-u"]);
    });
    await t.step("install and uninstall need root", async () => {
      await assert.rejects(
        installService({ system: true }, { ...host, uid: 1000 }),
        /needs root to install: run `sudo/,
      );
      await assert.rejects(uninstallService({ system: true }, { ...host, uid: 1000 }), /needs root to uninstall/);
    });
    await t.step("--user needs --system", async () => {
      await assert.rejects(installService({ user: "bob" }, host), /--user NAME only applies to a machine-wide service/);
    });
    await t.step("uninstall", async () => {
      const result = await uninstallService({ system: true }, host);
      assert.deepEqual((await stubs.calls()).map((call) => call.slice(1).join(" ")), [
        "show hark.service --property=LoadState,ActiveState,SubState,UnitFileState",
        "stop hark.service",
        "disable hark.service",
        "daemon-reload",
        "reset-failed hark.service",
      ]);
      assert.deepEqual(await tree(`${root}/etc`), []);
      assert.match(result.done.at(-1)!, /^Kept the state dir /);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("on macOS, install loads a LaunchAgent, status reads launchctl, uninstall boots it out", async (t) => {
  await using stubs = await StubTools.create(["launchctl"]);
  const home = await tempHome();
  const host = stubHost("darwin", stubs, { HOME: home });
  const plist = `${home}/Library/LaunchAgents/org.hark.agent.plist`;
  const stateDir = `${home}/Library/Application Support/hark`;
  const before = await tree(home);
  try {
    await t.step("install when nothing is loaded", async () => {
      await stubs.respond("launchctl print gui/501/org.hark.agent", 113, "Could not find service");
      const result = await installService({}, host);
      assert.deepEqual(await stubs.calls(), [
        ["launchctl", "print", "gui/501/org.hark.agent"],
        ["launchctl", "enable", "gui/501/org.hark.agent"],
        ["launchctl", "bootstrap", "gui/501", plist],
      ]);
      const written = await Deno.readTextFile(plist);
      assert.equal(decoder.decode(await stubs.file("org.hark.agent.plist")), written, "launchctl got the plist");
      assert.deepEqual(plistArguments(written), [
        "/opt/Hark & Co/bin/hark",
        "run",
        "--state-dir",
        stateDir,
        "--log-file",
        `${stateDir}/hark.log`,
      ]);
      assert.match(written, new RegExp(`<string>${home}/Library/Logs/hark/stderr\\.log</string>`));
      assert.ok((await Deno.stat(`${home}/Library/Logs/hark`)).isDirectory, "launchd needs the log directory");
      assert.deepEqual(result.next, ["hark service status", "launchctl print gui/501/org.hark.agent"]);
    });
    await t.step("install again boots the loaded agent out and waits until it is gone", async () => {
      // Loaded at first, still loaded just after bootout, then gone.
      await stubs.respond("launchctl print gui/501/org.hark.agent", 0, "state = running\n", true);
      await stubs.respond("launchctl print gui/501/org.hark.agent", 0, "state = running\n", true);
      await installService({}, host);
      assert.deepEqual((await stubs.calls()).map((call) => call[1]), [
        "print",
        "bootout",
        "print",
        "print",
        "enable",
        "bootstrap",
      ]);
    });
    await t.step("status: running, then stopped, then disabled", async () => {
      await Deno.writeTextFile(`${home}/Library/Logs/hark/stderr.log`, "hark: cannot bind\n");
      await stubs.respond("launchctl print gui/501/org.hark.agent", 0, "\tstate = running\n\tpid = 42\n", true);
      let state = await serviceState({}, host);
      assert.deepEqual([state.installed, state.enabled, state.running, state.status], [true, true, true, "running"]);
      assert.deepEqual(state.logs, [{ source: `${home}/Library/Logs/hark/stderr.log`, lines: ["hark: cannot bind"] }]);
      state = await serviceState({}, host);
      assert.deepEqual([state.running, state.status], [false, "not loaded"]);
      await stubs.respond("launchctl print-disabled gui/501", 0, '\t"org.hark.agent" => disabled\n', true);
      state = await serviceState({}, host);
      assert.equal(state.enabled, false);
      await stubs.calls();
    });
    await t.step("uninstall boots out, removes the plist and keeps the logs", async () => {
      await stubs.respond("launchctl print gui/501/org.hark.agent", 0, "state = running\n", true);
      const result = await uninstallService({}, host);
      assert.deepEqual(await stubs.calls(), [
        ["launchctl", "print", "gui/501/org.hark.agent"],
        ["launchctl", "bootout", "gui/501/org.hark.agent"],
      ]);
      assert.match(result.done.join("\n"), new RegExp(`Removed ${plist}`));
      assert.match(result.done.at(-1)!, /and the logs in .*Library\/Logs\/hark: uninstall never deletes them/);
      const kept = ["Library/Application Support", "Library/Application Support/hark", "Library/Logs"];
      assert.deepEqual(
        (await tree(home)).filter((entry) => !kept.some((path) => entry.slice(2).startsWith(path))),
        before,
      );
    });
    await t.step("--system is refused with an alternative", async () => {
      await assert.rejects(
        installService({ system: true }, host),
        /not supported on macOS.*`hark service install`, without --system/,
      );
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("on Windows, install creates the task from a UTF-16 XML file and uninstall deletes it", async (t) => {
  await using stubs = await StubTools.create(["schtasks"]);
  const stateDir = await Deno.makeTempDir({ prefix: "hark-windows-state-" });
  const temporary: string[] = [];
  const host = stubHost("windows", stubs, { USERNAME: "ann", USERDOMAIN: "PC" }, {
    uid: null,
    makeTempDir: async () => {
      temporary.push(await Deno.makeTempDir({ prefix: "hark-service-xml-" }));
      return temporary.at(-1)!;
    },
  });
  const manager = windowsTaskManager(host);
  const plan: ServicePlan = {
    argv: [...WINDOWS_ARGV.slice(0, 3), stateDir, "--log-file", `${stateDir}/hark.log`],
    stateDir,
    logFile: `${stateDir}/hark.log`,
    sandbox: { writable: [], sharedTmp: [] },
  };
  try {
    await t.step("install", async () => {
      await stubs.respond("schtasks /Query /TN hark", 1, "ERROR: The system cannot find the file specified.");
      const result = await manager.install(plan);
      const calls = await stubs.calls();
      assert.deepEqual(calls.map((call) => call.slice(1).join(" ")), [
        "/Query /TN hark",
        `/Create /TN hark /XML ${temporary[0]}/hark-task.xml /F`,
        "/Run /TN hark",
      ]);
      const bytes = await stubs.file("hark-task.xml");
      assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xfe]);
      assert.equal(new TextDecoder("utf-16le").decode(bytes), windowsTaskXml({ argv: plan.argv, userId: "PC\\ann" }));
      assert.equal(await Deno.stat(temporary[0]).catch(() => "gone"), "gone", "the XML file is removed");
      assert.match(result.done[0], /^Created the scheduled task \\hark .*at every logon of PC\\ann$/);
    });
    await t.step("status: running, then ready", async () => {
      await stubs.clearResponses();
      const xml = windowsTaskXml({ argv: plan.argv, userId: "PC\\ann" });
      await stubs.respond("schtasks /Query /TN hark /XML", 0, xml);
      await stubs.respond("schtasks /Query /TN hark /FO LIST /V", 0, "Status:        Running\r\n", true);
      await stubs.respond("schtasks /Query /TN hark /FO LIST /V", 0, "Status:        Ready\r\n");
      await Deno.writeTextFile(`${stateDir}/hark.log`, "one\ntwo\n");
      let state = await manager.state();
      assert.deepEqual([state.installed, state.enabled, state.running, state.status], [true, true, true, "Running"]);
      assert.deepEqual(state.command, plan.argv);
      assert.deepEqual(state.logs, [{ source: `${stateDir}/hark.log`, lines: ["one", "two"] }]);
      state = await manager.state();
      assert.deepEqual([state.running, state.status], [false, "Ready"]);
      await stubs.calls();
    });
    await t.step("install again ends the running agent first", async () => {
      await manager.install(plan);
      assert.deepEqual((await stubs.calls()).map((call) => call[1]), ["/Query", "/End", "/Create", "/Run"]);
    });
    await t.step("uninstall", async () => {
      const result = await manager.uninstall();
      assert.deepEqual((await stubs.calls()).map((call) => call.slice(1).join(" ")), [
        "/Query /TN hark",
        "/Query /TN hark /XML",
        "/End /TN hark",
        "/Delete /TN hark /F",
      ]);
      assert.match(result.done.at(-1)!, new RegExp(`^Kept the state dir ${stateDir} `));
    });
    await t.step("not installed", async () => {
      await stubs.clearResponses();
      await stubs.respond("schtasks /Query *", 1, "ERROR: The system cannot find the file specified.");
      const state = await manager.state();
      assert.deepEqual([state.installed, state.enabled, state.running], [false, false, false]);
      assert.deepEqual((await manager.uninstall()).done, [
        "The scheduled task \\hark does not exist; nothing to remove",
      ]);
    });
    await t.step("a % in a path is refused: Task Scheduler would expand it", async () => {
      await assert.rejects(
        manager.install({ ...plan, argv: [...plan.argv, "C:\\100%\\x"] }),
        /% cannot be escaped there/,
      );
    });
    await t.step("--system is refused with an alternative", async () => {
      await assert.rejects(installService({ system: true }, host), /not supported on Windows.*WinSW or NSSM/);
    });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("other platforms are refused with what to do instead", async () => {
  await using stubs = await StubTools.create([]);
  await assert.rejects(
    serviceState({}, stubHost("freebsd", stubs, { HOME: "/home/ann" })),
    /supports Linux \(systemd\), macOS \(launchd\) and Windows \(Task Scheduler\), not freebsd\. Start `hark run/,
  );
});

Deno.test("a config that names /tmp paths opens them in the sandbox; a broken config stops the install", async (t) => {
  await using stubs = await StubTools.create(["systemctl", "loginctl"]);
  const home = await tempHome();
  const host = stubHost("linux", stubs, { HOME: home });
  await Deno.mkdir(`${home}/.config/hark`);
  try {
    await t.step("a fifo in /tmp keeps /tmp shared and writable", async () => {
      await Deno.writeTextFile(`${home}/.config/hark/config.toml`, `[[source]]\ntype = "fifo"\npath = "/tmp/alert"\n`);
      const result = await installService({}, host);
      const unit = await Deno.readTextFile(result.path);
      assert.match(unit, /^ReadWritePaths=.*\/\.local\/state\/hark -\/tmp$/m);
      assert.doesNotMatch(unit, /^PrivateTmp=/m);
      // The default config, found now, is named so the service finds it whatever its environment.
      assert.deepEqual(result.command.slice(4, 6), ["--config", `${home}/.config/hark/config.toml`]);
    });
    await t.step("an invalid config", async () => {
      await Deno.writeTextFile(`${home}/.config/hark/config.toml`, `[network]\nbogus = 1\n`);
      await assert.rejects(installService({}, host), /unknown key "network\.bogus".*fix it, then run this again/);
    });
    await t.step("a named config that does not exist", async () => {
      await assert.rejects(
        installService({ config: "missing.toml" }, host),
        /config file ".*\/missing\.toml" does not exist/,
      );
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// A real systemd user manager, where there is one

const userManager = Deno.build.os === "linux" &&
  /^(running|degraded)$/.test((await run("systemctl", ["--user", "is-system-running"]))?.stdout.trim() ?? "");
// Never replace a hark service someone installed for real.
const realServiceFree = userManager && !(await serviceState()).installed;
if (!userManager) {
  console.warn(
    "SKIPPED service_test real install: no systemd user manager here (`systemctl --user is-system-running`)",
  );
} else if (!realServiceFree) {
  console.warn("SKIPPED service_test real install: this user already has a hark service installed");
}

Deno.test({
  name: "install really starts the agent under the systemd user manager, and uninstall removes it",
  ignore: !realServiceFree,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "hark-real-service-" });
    try {
      const installed = await installService({ stateDir });
      assert.ok(installed.path.endsWith("/systemd/user/hark.service"));
      await waitFor(async () => {
        const state = await serviceState();
        return state.running && state.logs.some((log) => log.lines.some((line) => line.includes("running as")));
      }, { timeoutMs: 20_000, intervalMs: 200, message: "the agent did not start under systemd" });
    } finally {
      await uninstallService();
      await Deno.remove(stateDir, { recursive: true });
    }
    assert.equal((await serviceState()).installed, false);
  },
});
